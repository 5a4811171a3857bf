"""Lightning modules, data modules, callbacks, evaluation and reports."""
