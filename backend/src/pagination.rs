//! Opaque cursors for keyset pagination: the API's `cursor` is the store's `after` key, base64url'd.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::api::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page, PageQuery};
use store::repo::{Page as StorePage, PageRequest};

/// Validate a page query.
pub fn request(q: &PageQuery) -> ApiResult<PageRequest> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "range",
            format!("must be between 1 and {MAX_PAGE_LIMIT}"),
        ));
    }
    let after = match &q.cursor {
        None => None,
        Some(c) => Some(
            B64.decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| !s.is_empty() && s.len() <= 64)
                .ok_or_else(|| {
                    ApiError::field("cursor", "invalid", "is not a cursor from this API")
                })?,
        ),
    };
    Ok(PageRequest { after, limit })
}

/// Turn a store page into an API page.
pub fn respond<T, U: From<T>>(page: StorePage<T>) -> Page<U> {
    respond_map(page, U::from)
}

/// Turn a store page into an API page, converting items with `f`.
pub fn respond_map<T, U>(page: StorePage<T>, f: impl FnMut(T) -> U) -> Page<U> {
    Page {
        items: page.items.into_iter().map(f).collect(),
        next_cursor: page.next_after.map(|a| B64.encode(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        let ok = |limit, cursor: Option<&str>| {
            request(&PageQuery {
                limit,
                cursor: cursor.map(String::from),
            })
            .is_ok()
        };
        assert!(ok(None, None));
        assert!(ok(Some(1), None));
        assert!(ok(Some(MAX_PAGE_LIMIT), None));
        assert!(!ok(Some(0), None));
        assert!(!ok(Some(MAX_PAGE_LIMIT + 1), None));
        assert!(!ok(None, Some("!!!")));
        let page: Page<String> = respond(StorePage {
            items: vec!["a".to_string()],
            next_after: Some("id-1".into()),
        });
        let back = request(&PageQuery {
            limit: None,
            cursor: page.next_cursor,
        })
        .unwrap();
        assert_eq!(back.after.as_deref(), Some("id-1"));
    }
}
