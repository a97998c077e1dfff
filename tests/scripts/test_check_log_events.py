"""scripts/check-log-events (run by `make check`): passes on this tree and fails, naming
file:line, on a copy with a planted badly named event, so a checker that silently
matches nothing is caught here."""
import pytest

from checker_util import ROOT, plant, run, tree  # noqa: F401 (tree is a fixture)


def test_this_tree_passes():
    rc, out = run("check-log-events", ROOT)
    assert rc == 0, out

@pytest.mark.parametrize("script", ["check-layers", "check-log-events"])
def line_of(path, needle):
    return next(n for n, l in enumerate(path.read_text().splitlines(), 1) if needle in l)


def test_dotted_camel_case_and_dashed_events_fail_with_the_line(tree):
    f = tree / "src/hls/playlist.cpp"
    plant(f, "namespace rend", "\n".join([
        'void planted1() { core::log::info("media.planted", {}); }',
        "void planted2() {",
        "  core::log::warn(",
        '      "plantedEvent");',  # the line of the name, not of the call
        "}",
        'void planted3() { core::log::write(core::log::Level::info, "a-b"); }',
    ]))
    rc, out = run("check-log-events", tree)
    assert rc == 1, out
    for name in ("media.planted", "plantedEvent", "a-b"):
        assert f'src/hls/playlist.cpp:{line_of(f, name)}: log event "{name}"' in out, out


def test_a_built_event_name_has_its_fragments_checked(tree):
    f = tree / "src/hls/playlist.cpp"
    line = plant(f, "namespace rend", 'void planted(std::string a) { core::log::warn(a + ".failed"); }')
    rc, out = run("check-log-events", tree)
    assert rc == 1, out
    assert f'src/hls/playlist.cpp:{line}: log event fragment ".failed"' in out, out


def test_an_event_in_a_comment_is_not_a_call(tree):
    plant(tree / "src/hls/playlist.cpp", "namespace rend", '// e.g. core::log::info("not.checked")')
    rc, out = run("check-log-events", tree)
    assert rc == 0, out
