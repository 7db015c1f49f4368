"""`make bench`: throughput, memory and latency of the real vulnfusion pipeline.

    python benchmarks/run.py --output reports/bench.json [--only featurize,train] [--quick]
                             [--torch-threads N] [--keep-tmp]

The entry point only: the sections, the keys each writes and how each figure is measured are
in the package ``benchmarks/bench/`` (one module per section; overview in its ``__init__``).
"""

from bench.cli import main

if __name__ == "__main__":
    main()
