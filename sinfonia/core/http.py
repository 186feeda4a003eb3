"""Content-Security-Policy values shared by the front-ends (portal pages, file downloads).
The middleware that applies the portal's is `sinfonia.web.security`; docs/security.md."""

# The portal loads scripts, styles, fonts and images from its own origin only; no inline script
# or style (htmx's injected indicator style is switched off in base.html), no eval, no plugins.
# ``blob:``/``data:`` for the previewer's images and media and Bootstrap's inline SVG icons.
PORTAL_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

# For stored files sent back to a browser: never run anything that is in them, even if a
# browser ignored the attachment disposition or the declared type.
SANDBOX_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'"
