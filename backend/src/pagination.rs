//! Opaque cursors for keyset pagination: the API's `cursor` is the store's `after` key, base64url'd.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Reads any well-formed cursor (trailing bits and padding tolerated); writes them without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
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
    // a cursor is a position (the last id seen): any well-formed one is a valid place to start from
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            LENIENT
                .decode(c)
                .ok()
                .filter(|b| b.len() <= 64)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
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
        // an empty cursor is the first page; any well-formed one is a place to start from
        assert!(ok(None, Some("")));
        assert!(ok(None, Some("AAAA")));
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
