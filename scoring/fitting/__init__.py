"""Learning integer points from conversions (``leadscore fit``): candidate rules (``candidates``), the decay-aware
logistic regression (``regression``), the end-to-end pipeline (``pipeline``) and the commented model file it
writes (``modelfile``). Needs the ``analysis`` extra (numpy, scikit-learn); the worker never imports it."""
