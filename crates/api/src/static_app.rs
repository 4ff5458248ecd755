//! The dashboard's static files (`crates/api/app/`), embedded in the binary at compile time by
//! `include_dir!` (`build.rs` makes Cargo rebuild the crate when one changes). Each file is
//! indexed once, at first use, with its content type, a strong ETag (the start of the SHA-256
//! of its bytes) and its caching policy:
//!
//! - our own files have no build step and so no content hash in their names: `no-cache`, so a
//!   browser revalidates each with its ETag (a 304 of a few bytes) and never runs the pages of
//!   an older release against a newer API;
//! - files under `assets/vendor/` sit in a folder named after the library's version
//!   (`chart.js-4.6.1/`), so a name never changes content: cached for a year, `immutable`.

use std::collections::HashMap;
use std::sync::OnceLock;

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

static APP_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/app");

/// The page every client route answers with.
const INDEX: &str = "index.html";
/// Where the files named after a version live.
const VERSIONED: &str = "assets/vendor/";

/// `Cache-Control` of files that may change between releases.
pub const REVALIDATE: &str = "no-cache";
/// `Cache-Control` of files whose name carries their version.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file, ready to serve.
#[derive(Debug)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// A quoted strong entity tag.
    pub etag: String,
    pub cache_control: &'static str,
}

fn assets() -> &'static HashMap<String, Asset> {
    static ASSETS: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let mut index = HashMap::new();
        add_dir(&APP_DIR, &mut index);
        index
    })
}

fn add_dir(dir: &'static Dir<'static>, index: &mut HashMap<String, Asset>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        let bytes = file.contents();
        let digest = Sha256::digest(bytes);
        let asset = Asset {
            bytes,
            content_type: content_type(&path),
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
            cache_control: if path.starts_with(VERSIONED) {
                IMMUTABLE
            } else {
                REVALIDATE
            },
        };
        index.insert(path, asset);
    }
    for sub in dir.dirs() {
        add_dir(sub, index);
    }
}

/// The single page of the dashboard (`index.html`).
pub fn page() -> Option<&'static Asset> {
    assets().get(INDEX)
}

/// A file under `app/assets/`, by its path below that folder.
pub fn asset(path: &str) -> Option<&'static Asset> {
    assets().get(&format!("assets/{path}"))
}

/// The content type of a file name; text is always UTF-8.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "md" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_page_is_embedded_as_html() {
        let page = page().expect("index.html is embedded");
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert_eq!(page.cache_control, REVALIDATE);
        assert!(std::str::from_utf8(page.bytes).is_ok_and(|s| s.contains("<main")));
    }

    #[test]
    fn every_embedded_file_has_a_known_content_type() {
        for (path, asset) in assets() {
            assert_ne!(
                asset.content_type, "application/octet-stream",
                "{path} would be served without a useful content type"
            );
        }
    }

    #[test]
    fn vendored_files_are_immutable_and_ours_revalidate() {
        let chart = asset("vendor/chart.js-4.6.1/chart.umd.min.js").expect("Chart.js is vendored");
        assert_eq!(chart.cache_control, IMMUTABLE);
        assert_eq!(chart.content_type, "text/javascript; charset=utf-8");
        let main = asset("js/main.js").expect("the entry module is embedded");
        assert_eq!(main.cache_control, REVALIDATE);
    }

    #[test]
    fn etags_are_quoted_and_differ_with_content() {
        let page = page().expect("page");
        let main = asset("js/main.js").expect("main");
        assert!(page.etag.starts_with('"') && page.etag.ends_with('"'));
        assert_eq!(page.etag.len(), 34);
        assert_ne!(page.etag, main.etag);
    }

    #[test]
    fn paths_outside_the_assets_folder_are_not_assets() {
        assert!(asset("../index.html").is_none());
        assert!(asset("").is_none());
        assert!(asset("js/missing.js").is_none());
    }
}
