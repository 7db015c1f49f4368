"""The compiled parts of vulnfusion (see their C sources); everything else is in pyproject.toml.

- ``vulnfusion.graphs._cwalk``: passes 1 (the walk) and 3 (reaching definitions) of the
  graph builder;
- ``vulnfusion._bytebpe``: the byte-level BPE pre-tokenizer for ASCII text.

Both are optional: where they cannot be built (no C compiler), ``pip install`` still succeeds
and the graph builder and the tokenizer run their pure-Python / ``tokenizers`` paths, with
the same output (slower: see the README for per-part timings).
"""

from setuptools import Extension, setup

TS = "third_party/tree-sitter/lib"
# the tree-sitter runtime files the walk needs (cursor, node, subtree, language), from the
# py-tree-sitter release pyproject.toml pins (third_party/tree-sitter/README.md)
RUNTIME = ["alloc", "language", "node", "subtree", "tree_cursor"]

setup(
    ext_modules=[
        Extension(
            "vulnfusion.graphs._cwalk",
            sources=[
                "src/vulnfusion/graphs/_cwalk.c",
                "src/vulnfusion/graphs/_reaching.c",
                *(f"{TS}/src/{f}.c" for f in RUNTIME),
            ],
            include_dirs=[f"{TS}/include", f"{TS}/src"],
            # the module exports only its init function (api.h would export the runtime's)
            define_macros=[("TREE_SITTER_HIDE_SYMBOLS", None)],
            # no debug info: the module is copied into every logged model (code_paths)
            extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-g0"],
            optional=True,
        ),
        Extension(
            "vulnfusion._bytebpe",
            sources=["src/vulnfusion/_bytebpe.c"],
            extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-g0"],
            optional=True,
        ),
    ]
)
