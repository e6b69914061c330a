"""The lead page ``GET /ui/leads/{lead_id}`` (ADR 040): a view model built from the stored lead and the engine
(``page``), drawn as inline SVG (``svg``) in server-rendered, escaped HTML (``html``). No JavaScript, no build step."""
