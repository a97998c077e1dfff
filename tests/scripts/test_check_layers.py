"""scripts/check-layers (run by `make check`): passes on this tree and fails, naming
file:line, on a copy with one planted wrong dependency, so a checker that silently
matches nothing is caught here."""

from checker_util import ROOT, plant, run, tree  # noqa: F401 (tree is a fixture)


def test_this_tree_passes():
    rc, out = run("check-layers", ROOT)
    assert rc == 0, out


def test_an_include_up_the_layers_fails_with_the_line(tree):
    line = plant(tree / "src/hls/playlist.cpp", "#include", '#include "api/api.h"')
    rc, out = run("check-layers", tree)
    assert rc == 1, out
    assert f'src/hls/playlist.cpp:{line}: #include "api/api.h" — hls may not depend on api' in out, out


def test_an_unlisted_same_layer_include_fails(tree):
    line = plant(tree / "src/media/probe.cpp", "#include", '#include "telemetry/wire.h"')
    rc, out = run("check-layers", tree)
    assert rc == 1, out
    assert f"src/media/probe.cpp:{line}: " in out and "media may not depend on telemetry" in out, out


def test_a_cmake_dep_up_the_layers_fails(tree):
    cm = tree / "src/hls/CMakeLists.txt"
    cm.write_text(cm.read_text().replace("DEPS rend_core)", "DEPS rend_core rend_edge)", 1))
    rc, out = run("check-layers", tree)
    assert rc == 1, out
    assert "src/hls/CMakeLists.txt:" in out and "rend_hls DEPS rend_edge — hls may not depend on edge" in out, out


def test_a_folder_missing_from_the_table_fails(tree):
    (tree / "src/zz_unlisted").mkdir()
    (tree / "src/zz_unlisted/plan.cpp").write_text('#include "core/log.h"\n')
    rc, out = run("check-layers", tree)
    assert rc == 1, out
    assert "src/zz_unlisted/: not in the LAYERS table" in out, out
