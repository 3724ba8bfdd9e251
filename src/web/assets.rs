//! Static assets, compiled into the binary and served under content-hashed URLs with a
//! year-long, immutable cache lifetime. Versions of vendored files: see `static/VENDORED.md`.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "pico.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/vendor/pico-2.1.1.min.css"),
    },
    Asset {
        name: "berth.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/berth.css"),
    },
    Asset {
        name: "berth.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/berth.js"),
    },
    Asset {
        name: "passkeys.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/passkeys.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/favicon.svg"),
    },
    Asset {
        name: "favicon.ico",
        content_type: "image/x-icon",
        body: include_bytes!("../../static/favicon.ico"),
    },
    Asset {
        name: "apple-touch-icon.png",
        content_type: "image/png",
        body: include_bytes!("../../static/apple-touch-icon.png"),
    },
];

/// The URL of each asset, e.g. `/static/3f2a…/htmx.min.js`.
pub struct Urls {
    pub htmx: String,
    pub pico: String,
    pub css: String,
    pub js: String,
    pub icon_svg: String,
    pub icon_ico: String,
    pub touch_icon: String,
}

struct Hashed {
    hash: String,
    asset: &'static Asset,
}

static HASHED: LazyLock<Vec<Hashed>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|asset| Hashed {
            hash: hex::encode(&Sha256::digest(asset.body)[..8]),
            asset,
        })
        .collect()
});

/// The URL of the asset `name`, which must be in `FILES`.
pub fn url(name: &str) -> String {
    let h = HASHED
        .iter()
        .find(|h| h.asset.name == name)
        .expect("asset is listed in FILES");
    format!("/static/{}/{}", h.hash, h.asset.name)
}

pub static URLS: LazyLock<Urls> = LazyLock::new(|| Urls {
    htmx: url("htmx.min.js"),
    pico: url("pico.min.css"),
    css: url("berth.css"),
    js: url("berth.js"),
    icon_svg: url("favicon.svg"),
    icon_ico: url("favicon.ico"),
    touch_icon: url("apple-touch-icon.png"),
});

/// `GET /static/{hash}/{name}`: only the current hash is served, so a cached URL never
/// shows stale content.
pub async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    match HASHED.iter().find(|h| h.asset.name == name && h.hash == hash) {
        Some(h) => (
            [
                (header::CONTENT_TYPE, h.asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            h.asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /favicon.ico` and `GET /apple-touch-icon.png`: the icons at the addresses browsers
/// ask for by themselves (every page also links the hashed ones), so that no page logs a
/// 404 in the browser's console. Cached for a day, since the address never changes.
pub async fn well_known_icon(uri: axum::http::Uri) -> Response {
    let name = uri.path().trim_start_matches('/');
    match HASHED.iter().find(|h| h.asset.name == name) {
        Some(h) => (
            [
                (header::CONTENT_TYPE, h.asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            h.asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
