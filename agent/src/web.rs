//! The web page `sonded` serves at `/`: the customer's flow and the technician's live view in a
//! browser (docs/web.md). Plain HTML, CSS and JavaScript embedded in the binary: no build step,
//! no third-party script, nothing fetched from elsewhere.
//!
//! The files hold no data, so they are served without a token (the `Host` allow-list and the
//! rate limit still apply); everything the page shows comes from the API, with the token the
//! user gives it.

use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

/// What the page may load and run: only this agent's own files and API. No inline script or
/// style (the JavaScript is in its own file), no frames, no form posted elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The embedded files: path, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../web/index.html")),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/i18n.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
];

/// The paths of the page's files (each served by [`serve`]).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(path, _, _)| *path)
}

/// Whether `path` is one of the page's files (served without a token).
pub fn is_asset(path: &str) -> bool {
    ASSETS.iter().any(|(p, _, _)| *p == path)
}

/// Serves the file at the request's path, with its content type and the page's security
/// headers.
pub async fn serve(uri: Uri) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(p, _, _)| *p == uri.path()) else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A new agent version must not run with an old script: revalidate every time (the files
    // are small and the agent is on the LAN).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
