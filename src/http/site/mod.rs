//! The pages a person uses: the fan's waiting room at `/` and the operator's console at
//! `/admin`. Plain HTML, CSS and JavaScript modules compiled into the binary, so they need
//! no build step, no CDN and no internet; they talk to the same public API as any client.
//!
//! Every asset is revalidated (`no-cache` with an `ETag` of its content), so a deployment's
//! new page reaches fans at their next load while an unchanged one costs a 304.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        &[$(Asset { name: $name, content_type: $content_type, body: include_bytes!(concat!("assets/", $name)) }),*]
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

const ASSETS: &[Asset] = assets! {
    "index.html" => HTML,
    "admin.html" => HTML,
    "style.css" => CSS,
    "icon.svg" => SVG,
    "api.js" => JS,
    "saved.js" => JS,
    "format.js" => JS,
    "sha256.js" => JS,
    "pow-worker.js" => JS,
    "draw.js" => JS,
    "page.js" => JS,
    "live.js" => JS,
    "session.js" => JS,
    "fan.js" => JS,
    "queue.js" => JS,
    "queue-view.js" => JS,
    "shop.js" => JS,
    "seat-view.js" => JS,
    "admin.js" => JS,
};

/// The pages load only what this service serves, and talk only to it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/").route(web::get().to(fan_page)))
        .service(super::resource("/admin").route(web::get().to(admin_page)))
        .service(super::resource("/assets/{name}").route(web::get().to(asset)));
}

async fn fan_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

async fn admin_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "admin.html")
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&req, &name)
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// Each asset's `ETag`: a hash of its bytes, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
        let tag = |body: &[u8]| format!("\"{}\"", &hex::encode(Sha256::digest(body))[..20]);
        ASSETS.iter().map(|asset| (asset.name, tag(asset.body))).collect()
    });
    TAGS.get(asset.name).map_or("\"\"", String::as_str)
}

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let asset = find(name).ok_or_else(|| ApiError::not_found(format!("no such page asset: {name}")))?;
    let tag = etag(asset);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if asset.content_type == HTML {
        response.insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    }
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type(asset.content_type).body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> &'static str {
        std::str::from_utf8(find(name).unwrap().body).unwrap()
    }

    /// `/assets/x` in a page, `./x` or `"./x"` in a module: every name the pages load.
    fn references(source: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["/assets/", "\"./"] {
            for (at, _) in source.match_indices(marker) {
                let rest = &source[at + marker.len()..];
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')).unwrap_or(0);
                found.push(rest[..end].to_string());
            }
        }
        found
    }

    #[test]
    fn every_asset_a_page_or_module_loads_is_served() {
        for asset in ASSETS {
            let source = std::str::from_utf8(asset.body).unwrap();
            for name in references(source) {
                assert!(find(&name).is_some(), "{} loads {name}, which is not served", asset.name);
            }
        }
    }

    #[test]
    fn every_served_file_is_in_the_assets_folder_and_the_other_way_round() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/site/assets");
        let mut on_disk: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.name.to_string()).collect();
        on_disk.sort();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn the_pages_load_nothing_from_another_host_and_run_no_inline_script() {
        for page in ["index.html", "admin.html"] {
            let html = text(page);
            assert!(!html.contains("http://") && !html.contains("https://"), "{page} names another host");
            assert!(!html.contains("<script>") && !html.contains("onclick="), "{page} has inline script");
            assert!(html.contains("<html lang="), "{page} says its language");
        }
    }

    #[test]
    fn scripts_are_served_as_javascript_and_each_tag_is_its_content() {
        assert_eq!(find("fan.js").unwrap().content_type, JS);
        assert_ne!(etag(find("fan.js").unwrap()), etag(find("admin.js").unwrap()));
    }
}
