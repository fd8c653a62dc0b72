//! Repositories: the only diesel code. Functions over tenant-owned data take the `TenantId` first and
//! filter on it, so another tenant's row is simply not found.

pub mod appliances;
pub mod applications;
pub mod assignments;
pub mod audit;
pub mod events;
pub mod hosts;
pub mod images;
pub mod ipam;
pub mod jobs;
pub mod leases;
pub mod locks;
pub mod metrics;
pub mod pools;
pub mod projects;
pub mod refresh_tokens;
pub mod rules;
pub mod runs;
pub mod scripts;
pub mod settings;
pub mod templates;
pub mod tenants;
pub mod unscoped;
pub mod users;

/// Keyset pagination input: rows with an id greater than `after`, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }
}

/// A page of rows; `next_after` is the last id when more rows follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` rows fetched in id order.
    pub(crate) fn from_rows(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let limit = limit as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_after = if more { items.last().map(id) } else { None };
        Page { items, next_after }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_after: self.next_after,
        }
    }
}

/// `limit + 1` as a SQL limit.
pub(crate) fn fetch_limit(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// Convert rows, failing on the first invalid one.
pub(crate) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, crate::StoreError>
where
    T: TryFrom<R, Error = crate::StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_from_rows() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| x.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next_after.as_deref(), Some("2"));
        let p = Page::from_rows(vec![1, 2], 2, |x| x.to_string());
        assert_eq!(p.next_after, None);
        let p = Page::from_rows(Vec::<i32>::new(), 2, |x| x.to_string());
        assert!(p.items.is_empty() && p.next_after.is_none());
    }
}
