// MathJax 3, shipped with the site (docs/_hooks/mathjax_offline.py): no network needed.
// Pages: pymdownx.arithmatex wraps formulas in \( \) / \[ \] inside class "arithmatex".
// Tutorials: the notebooks' Markdown cells and LaTeX outputs (classes "jp-RenderedMarkdown",
// "jp-RenderedLatex") use $ and $$;
// their headings reach the table of contents (class "md-nav__link" / "md-ellipsis").
// Every element with a class is skipped unless it is one of these; an element without a
// class inherits its parent's choice (hence ".+", not ".*|": the <p> of a notebook cell
// has no class and must stay processed).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-RenderedLatex|md-nav__link|md-ellipsis",
  },
};
