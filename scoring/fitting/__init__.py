"""Learning integer points from conversions (``leadscore fit``): candidate rules (``candidates``, ``numeric``),
cleaned to one feature per effect (``selection``), the decay-aware logistic regression (``regression``), the
references on the same features (``references``), the hold-out and test figures (``checks``), the end-to-end
pipeline (``pipeline``) and the commented model file it writes (``modelfile``). Needs the ``analysis`` extra
(numpy, scikit-learn); the worker never imports it."""
