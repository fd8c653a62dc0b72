//! Serves the single-page app built into `frontend/dist` (by `infra/build-frontend.sh`): embedded into
//! release builds, so `scaleinfra serve` is one file; read from disk in debug builds.
//!
//! It is the app's default service, reached only by requests no API route matched. A GET for a file of
//! `dist` answers that file (content-hashed names are cached for a year, `index.html` is revalidated);
//! a GET that accepts `text/html` anywhere else outside `/api/`, `/agent/`, `/healthz`, `/readyz`, `/metrics`
//! answers `index.html`, so client-side routes can be reloaded and bookmarked; everything else is the
//! API's problem+json 404. Pre-compressed `.gz` siblings are sent to clients that accept gzip.

use crate::error::ApiError;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::Embed;
use std::borrow::Cow;

#[derive(Embed)]
#[folder = "../frontend/dist/"]
#[allow_missing = true]
struct Dist;

/// The SPA's Content-Security-Policy: everything from this origin only; wasm may be compiled
/// (`'wasm-unsafe-eval'`), no inline script or style, the favicon is a `data:` URL.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// One file of the app.
pub struct Asset {
    pub data: Cow<'static, [u8]>,
    /// SHA-256 of `data` (the ETag).
    pub sha256: [u8; 32],
}

/// What the app answers for a request that no API route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The file at this path of `dist`.
    File(String),
    /// `index.html`, for the root and for client-side routes.
    Index,
    /// The API's 404.
    NotFound,
}

/// Decide the answer from the method, the path, the `Accept` header and which files exist.
pub fn classify(
    method: &Method,
    path: &str,
    accept: &str,
    exists: impl Fn(&str) -> bool,
) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return Answer::NotFound;
    }
    let reserved = ["/api", "/agent", "/healthz", "/readyz", "/metrics"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if reserved {
        return Answer::NotFound;
    }
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel == "index.html" {
        return Answer::Index;
    }
    if !rel.split('/').any(|seg| seg == ".." || seg.is_empty()) && exists(rel) {
        return Answer::File(rel.to_owned());
    }
    if accept.contains("text/html") {
        Answer::Index
    } else {
        Answer::NotFound
    }
}

/// The media type of a file of `dist`, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a file name carries its content hash (`app-0123456789abcdef.wasm`): those never change.
pub fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn embedded(path: &str) -> Option<Asset> {
    Dist::get(path).map(|f| Asset {
        sha256: f.metadata.sha256_hash(),
        data: f.data,
    })
}

/// The default service of the app.
pub async fn serve(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    respond(&req, &embedded)
}

/// Answer `req` from the files `lookup` finds.
pub fn respond(
    req: &HttpRequest,
    lookup: &dyn Fn(&str) -> Option<Asset>,
) -> Result<HttpResponse, ApiError> {
    let accept = header_str(req, header::ACCEPT);
    let path = match classify(req.method(), req.path(), accept, |p| lookup(p).is_some()) {
        Answer::NotFound => return Err(ApiError::NotFound),
        Answer::Index => "index.html".to_owned(),
        Answer::File(p) => p,
    };
    // No index.html: the frontend was not built into this binary.
    let asset = lookup(&path).ok_or(ApiError::NotFound)?;
    let gzip_ok = header_str(req, header::ACCEPT_ENCODING).contains("gzip");
    let gz = if gzip_ok {
        lookup(&format!("{path}.gz"))
    } else {
        None
    };
    // One ETag per representation: the gzip one differs from the identity one.
    let etag = format!(
        "\"{}{}\"",
        hex::encode(&asset.sha256[..16]),
        if gz.is_some() { "-gz" } else { "" }
    );
    let fresh = header_str(req, header::IF_NONE_MATCH)
        .split(',')
        .any(|t| t.trim() == etag);
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    let cache = if is_hashed(&path) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    resp.insert_header((header::CONTENT_TYPE, content_type(&path)))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    if gz.is_some() {
        resp.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(match (fresh, gz) {
        (true, _) => resp.finish(),
        (false, Some(gz)) => resp.body(gz.data),
        (false, None) => resp.body(asset.data),
    })
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use sha2::{Digest, Sha256};

    const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

    fn exists(p: &str) -> bool {
        matches!(
            p,
            "app-0123456789abcdef.wasm" | "style-0123456789abcdef.css"
        )
    }

    #[test]
    fn classify_table() {
        let get = Method::GET;
        let table = [
            (&get, "/", "*/*", Answer::Index),
            (&get, "/index.html", "", Answer::Index),
            (
                &get,
                "/app-0123456789abcdef.wasm",
                "*/*",
                Answer::File("app-0123456789abcdef.wasm".into()),
            ),
            (&get, "/tenants", HTML, Answer::Index),
            (
                &get,
                "/projects/0193c0de-0000-7000-8000-000000000000",
                HTML,
                Answer::Index,
            ),
            // a missing file asked for by a script is a 404, not index.html
            (&get, "/app-ffffffffffffffff.js", "*/*", Answer::NotFound),
            (&get, "/tenants", "application/json", Answer::NotFound),
            // the API, health and metrics keep their 404s even for browsers
            (&get, "/api/v1/nope", HTML, Answer::NotFound),
            (&get, "/api", HTML, Answer::NotFound),
            (&get, "/healthz/x", HTML, Answer::NotFound),
            (&get, "/metrics", HTML, Answer::NotFound),
            (&get, "/readyz", HTML, Answer::NotFound),
            (&get, "/agent/v1/x", HTML, Answer::NotFound),
            // only reads
            (&Method::POST, "/tenants", HTML, Answer::NotFound),
            (&Method::HEAD, "/tenants", HTML, Answer::Index),
            // no climbing out of dist
            (&get, "/../Cargo.toml", "*/*", Answer::NotFound),
        ];
        for (method, path, accept, want) in table {
            assert_eq!(
                classify(method, path, accept, exists),
                want,
                "{method} {path} [{accept}]"
            );
        }
        // "/apix" is a client route, not the API
        assert_eq!(classify(&get, "/apix", HTML, exists), Answer::Index);
    }

    #[test]
    fn names_and_types() {
        assert!(is_hashed("app-0123456789abcdef.wasm"));
        assert!(is_hashed("assets/style-0123456789ABCDEF.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("app-123.js"));
        assert_eq!(content_type("a.wasm"), "application/wasm");
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    fn files(p: &str) -> Option<Asset> {
        let data: &'static [u8] = match p {
            "index.html" => b"<!doctype html><title>t</title>",
            "app-0123456789abcdef.wasm" => b"\0asm\x01\0\0\0",
            _ => return None,
        };
        Some(Asset {
            data: Cow::Borrowed(data),
            sha256: Sha256::digest(data).into(),
        })
    }

    fn call(req: TestRequest) -> Result<HttpResponse, ApiError> {
        respond(&req.to_http_request(), &files)
    }

    fn header<'a>(r: &'a HttpResponse, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn client_routes_get_index_html_revalidated_with_the_csp() {
        let r = call(
            TestRequest::get()
                .uri("/projects")
                .insert_header(("accept", HTML)),
        );
        let Ok(r) = r else { panic!("no answer") };
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert!(header(&r, "content-security-policy").contains("'wasm-unsafe-eval'"));
        let etag = header(&r, "etag").to_owned();
        let body = r.into_body().try_into_bytes().unwrap_or_default();
        assert!(body.starts_with(b"<!doctype html>"));

        let again = call(
            TestRequest::get()
                .uri("/")
                .insert_header(("if-none-match", etag)),
        );
        let Ok(again) = again else {
            panic!("no answer")
        };
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn hashed_assets_are_immutable_with_their_type() {
        let Ok(r) = call(TestRequest::get().uri("/app-0123456789abcdef.wasm")) else {
            panic!("no answer")
        };
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "application/wasm");
        assert_eq!(header(&r, "cache-control"), IMMUTABLE);
    }

    #[test]
    fn api_and_non_html_misses_stay_api_404s() {
        for req in [
            TestRequest::get()
                .uri("/api/v1/missing")
                .insert_header(("accept", HTML)),
            TestRequest::get()
                .uri("/missing.js")
                .insert_header(("accept", "*/*")),
            TestRequest::post()
                .uri("/projects")
                .insert_header(("accept", HTML)),
        ] {
            assert!(matches!(call(req), Err(ApiError::NotFound)));
        }
    }
}
