"""Every figure of the report, drawn from the numbers the domain packages and checks computed.

The only package that imports matplotlib (``tests/test_imports.py`` holds every other module to that):
domain packages (fairness, explain, robustness, saliency, health) return numbers and DataFrames, checks
put them into sections, and one module here per check turns them into :class:`audit.section.Figure`
values (inline SVG, or PNG for image grids) through :mod:`audit.plots._figure`:

=================  ===================================================================
module             figures
=================  ===================================================================
``performance``    confusion matrix
``fairness``       disparity bars, group bars with intervals (every column in one), intersection heat map
``explain``        global importance, SHAP beeswarm, SHAP vs LIME (one panel for the chosen rows)
``data_quality``   label balance, feature drift
``overfitting``    training history
``calibration``    reliability diagram, reliability per group
``saliency``       saliency overlays, deletion and insertion curves
``robustness``     accuracy against eps, adversarial examples
``gradients``      gradient norm per layer
=================  ===================================================================

Each function takes a domain result (or a few arrays) and returns a list of figures, empty when
there is nothing to draw. Figures are capped where inputs can be large (30 groups, 15 heat-map
levels, 30 label bars), and each says so in its caption.
"""
