"""``vulnfusion evaluate``: the registered model on any labelled set (DESIGN §10).

Modules: :mod:`~.dataset` (read), :mod:`~.scoring` (score in batches), :mod:`~.measures`
(VD-S, pair-wise figures, pair-aware bootstrap), :mod:`~.figures` (one figure set, group
breakdowns, training overlap), :mod:`~.plots`, :mod:`~.outputs`, :mod:`~.tracking` (the
MLflow run) and :mod:`~.run` (end to end). ``mlflow.models.evaluate`` is not used: it
computes none of VD-S, the pair-wise figures, pair-resampled intervals or equal-mass ECE,
and would score the model a second time.

``evaluation.json`` (``schema`` ``vulnfusion-evaluation/1``; keys are stable, new ones are
only ever added):

* ``name``, ``created`` (UTC, ISO 8601);
* ``data``: ``path``, ``split`` (``test`` by default for a directory, ``all``, or null for a
  file read whole), ``digest`` (16 hex of SHA-256 over the
  files read), ``n_read`` (records read: the valid ones and those ``--on-bad-record skip``
  skipped), ``n_scored``, ``skipped`` (``total``, ``by_reason``, ``examples``);
* ``model``: ``uri``, ``name``, ``version``, ``alias`` (null for a run or directory URI),
  ``threshold`` (the model's own);
* ``options``: ``target_fpr``, ``n_boot``, ``seed``, ``alpha``;
* ``all``: the figure set of every scored function (:func:`.figures.figure_set`): ``n``,
  ``n_positive``, ``threshold``, ``bootstrap_unit``; ``roc_auc``, ``pr_auc``, ``accuracy``,
  ``precision``, ``recall``, ``f1``, ``balanced_accuracy`` each ``{value, low, high}``;
  ``confusion`` ``{tp, fp, tn, fn}``; ``vd_s`` ``{vd_s, threshold, fpr, recall,
  target_fpr}``; ``calibration`` ``{ece, brier, n_bins}``; ``pairs`` (null without
  ``pair_id``) ``{n_pairs, malformed, p_c, p_v, p_b, p_r, vulnerable_scores_higher}``, the
  last five each ``{value, low, high}``; ``malformed`` counts ``singleton``, ``same_label``,
  ``more_than_two`` and ``identical`` (byte-identical twins, left out as PrimeVul does);
* ``duplicates``: ``{n_rows, n_texts}``, rows repeating an earlier row's text and label
  (kept in the figures: each is a scored input);
* ``warnings``: one line per malformed-pair kind and for duplicate rows (the console prints
  each as ``WARNING:``, as the leakage warning);
* ``groups``: ``{"project"|"cwe": {value: {n, n_positive, accuracy, precision, recall, f1,
  roc_auc, pr_auc, n_pairs, p_c, vulnerable_scores_higher}}}`` for the fields present;
* ``leakage``: ``available``, ``n_exact``, ``n_normalized_only``, ``n_overlap``, ``share``,
  ``warning`` (text or null);
* ``without_overlap``: the figure set without functions found in the training data (and
  their twins), null when there is no overlap;
* ``mlflow``: ``run_id``, ``experiment_id``, ``tracking_uri`` (null with ``--no-mlflow``).

``predictions.jsonl``: one line per scored function — ``row_id``, ``func_hash``, ``label``,
``probability``, ``predicted``, ``pair_id``, ``project``, ``cwe``, ``overlap``. ``row_id`` is
the record's own id when it has one (``idx:<idx>``, ``<project>:<project_index>``), else
``row:<n>``, ``n`` 1-based as an editor counts: the line of a JSON Lines record, the first
physical line of a CSV record (the header is line 1: the first record is ``row:2``), the
position of a ``function.json`` element (the first is ``row:1``); a directory's split adds
``<split>/`` (``test/row:3``) (:func:`.dataset.row_id_of`).
"""
