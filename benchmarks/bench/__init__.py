"""`make bench`: throughput, memory and latency of the real vulnfusion pipeline.

    python benchmarks/run.py --output reports/bench.json [--only featurize,train] [--quick]
                             [--torch-threads N] [--keep-tmp]

Writes ``--output`` (JSON) and the same figures as a table next to it (``.md``). Results are
merged into an existing JSON: a section that is run replaces its previous object, the others
are kept, so sections can be rerun independently (``--only``). Every section runs inside
try/except and records ``{"error": "<one line>"}`` instead of stopping the benchmark.

One module per section, each documenting its keys (dots = nesting) in its docstring:
``featurize``, ``train`` (with ``train_worker``, its subprocess), ``fusion``, ``scoring``,
``serving``, ``pipeline``, ``quality``, ``timings``, ``scan`` (``vulnfusion scan`` on two
Linux kernel subtrees beside ``flawfinder``), ``ablation`` (one seed of one branch per
feature option: windows, data-flow nodes, identifier normalisation; with ``ablation_worker``).
Shared pieces: ``context`` (sizes and the
per-invocation state), ``processes`` (measured subprocesses), ``inputs`` (params files and the
memoized data/feature/model builds the sections share), ``report`` (bench.json/bench.md),
``sections`` (the registry, in report order) and ``cli`` (the entry point that
``benchmarks/run.py`` calls). Every section with a target also has ``meets_target``
(measured against it, never assumed).

meta — date, git_sha, python, torch, cpu_count, torch_threads, torch_threads_setting, platform,
  command, quick, devign, and per section
  meta.sections.<name>.{date,wall_s,load_avg_before,load_avg_after,git_sha,quick,torch_threads}

Everything happens in a fresh temp directory (removed at the end; ``--keep-tmp`` keeps it)
with its own params files (the repo's ``params.yaml`` with keys overridden) and its own
sqlite MLflow store (``MLFLOW_TRACKING_URI``). The Devign file
``../shared/data/devign/devign.jsonl.gz`` is read in place (a sampled subset, when needed,
is written to the temp directory only). Only project code runs: the stage scripts in
``pipelines/`` as subprocesses, or library functions in-process (fusion, scoring, timings).
Modules that pull in transformers or MLflow are imported inside the functions that run under
``inputs.project_env`` (Hugging Face reads its offline flags once, at import).

Runtime (2 cores, sizes in ``context.FULL``): the sections before ``pipeline`` are sized to
stay under ~25 min even with other jobs on the machine — featurize 3 × 0.75-1.5 min; train
1.5-6 min; the subset pipeline (1,500 functions: 3 seeds × 2 branches × 1 epoch, 3 fusion
seeds, aggregate, compare, register) 4-8 min; fusion/scoring/serving measurements 3-6 min;
timings under a minute. About 12 min at a load average of 2-3. ``pipeline`` and ``quality``
together take 1.5-2.5 hours; ``--only`` leaves them out.
Contention matters a lot: with torch's default intra-op threads (one per core) a second busy
process slows the GNN and Transformer loops several-fold, so every section records the load
average before and after, medians are taken where runs are cheap, and ``--torch-threads 1``
gives steadier (not as-shipped) figures. Runs that only build inputs for a measurement (demo
and subset prepare/featurize, the subset pipeline's stages) get OMP/MKL_NUM_THREADS=1 unless
``--torch-threads`` is given; measured runs keep the shipped default. ``--quick`` (~5 min)
featurizes a Devign subset instead of the whole file and uses smaller sizes: a smoke test,
not figures to quote. ``scan`` installs ``linux-source-6.1`` (apt) when absent, reuses the
subset pipeline's registered model and scans ``drivers/net/ethernet/intel`` (~8k functions)
and ``fs`` (~4x the lines): 10-30 min on 2 cores; it needs ``flawfinder``
(``pip install -e '.[bench]'``) and records ``skipped: <reason>`` without it or the package.
"""
