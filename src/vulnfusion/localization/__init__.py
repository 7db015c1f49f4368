"""Line-level localisation: which lines of a function make the model call it vulnerable.

``lines`` splits a function into candidate lines and ranks them by keyword (a floor);
``metrics`` scores rankings against labelled flaw lines (LineVul's Top-k accuracy and IFA,
with the random-order expectation); ``attribution`` computes per-line scores from the
fusion seed ensemble (line occlusion through both branches, the default, or input x gradient
or integrated gradients over the Transformer's token embeddings); ``evaluate``
measures methods and floors on labelled rows.

Layer: above models/featurize/tokenization, below serving (the pyfunc's ``top_lines``
parameter) and the report; no MLflow, no CLI.
"""
