"""Per-seed runs: one seed of one track trained, scored and written to ``outputs/``.

``seed_run`` is the skeleton every track shares (MLflow run, ``Trainer``, scoring, atomic
outputs, manifest); ``branch`` and ``fusion`` build the models it trains; ``scoring``,
``outputs`` and ``resume`` are the pieces it is made of. See docs/architecture.md.
"""
