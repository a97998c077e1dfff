#!/usr/bin/env python3
"""docs/openapi.yaml -> a C++ file defining rend::api::kOpenApiJson (compact JSON),
so the API serves its description without a file next to the binary.

usage: openapi_to_cpp.py IN.yaml OUT.cpp
Refuses what would make the JSON differ from what a reader of the YAML sees: a key
repeated in one mapping (PyYAML keeps the last silently) and values JSON cannot
carry (dates, binary)."""

import json
import os
import sys

try:
    import yaml
except ImportError:
    sys.exit("openapi_to_cpp.py: PyYAML is missing (Debian: python3-yaml; scripts/bootstrap.sh installs it)")


class StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} repeated", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)

DELIM = "rend_openapi"


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=StrictLoader)
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        sys.exit(f"openapi_to_cpp.py: {src} holds a value JSON cannot carry: {e}")
    if f'){DELIM}"' in text:
        sys.exit(f"openapi_to_cpp.py: {src} contains the raw-string delimiter ){DELIM}\"")
    # ASCII only (ensure_ascii): a piece boundary never splits a UTF-8 sequence.
    # Split into pieces: one raw literal per 8000 bytes stays within every compiler's limits.
    chunks = [text[i:i + 8000] for i in range(0, len(text), 8000)]
    body = "\n".join(f'    R"{DELIM}({c}){DELIM}"' for c in chunks)
    cpp = ("// Generated from docs/openapi.yaml by cmake/openapi_to_cpp.py; do not edit.\n"
           "#include <string_view>\n\nnamespace rend::api {\n"
           f"extern const std::string_view kOpenApiJson;\nconst std::string_view kOpenApiJson =\n{body};\n"
           "}  // namespace rend::api\n")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(cpp)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
