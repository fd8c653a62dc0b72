//! The image registry (provider-wide: operators register images per pool; tenants only refer to
//! them by id through templates).

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_compute::{Image, ImageRow};
use crate::schema::{appliance_templates as t, images::dsl as i};
use crate::{DbConn, StoreError};
use common::{ImageId, PoolId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, image: &Image) -> Result<(), StoreError> {
    diesel::insert_into(i::images)
        .values(ImageRow::from(image))
        .execute(conn)
        .map_err(|e| StoreError::unique_among(e, &["file"], "name"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: ImageId) -> Result<Option<Image>, StoreError> {
    i::images
        .find(id.to_string())
        .select(ImageRow::as_select())
        .first(conn)
        .optional()?
        .map(Image::try_from)
        .transpose()
}

/// Several images by id, in one query.
pub fn get_many(conn: &mut DbConn, ids: &[ImageId]) -> Result<Vec<Image>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    convert(
        i::images
            .filter(i::id.eq_any(ids))
            .select(ImageRow::as_select())
            .load(conn)?,
    )
}

/// Images of one pool (`Some`) or of every pool, in id order.
pub fn list(
    conn: &mut DbConn,
    pool: Option<PoolId>,
    page: &PageRequest,
) -> Result<Page<Image>, StoreError> {
    let mut q = i::images
        .select(ImageRow::as_select())
        .order(i::id.asc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if let Some(p) = pool {
        q = q.filter(i::pool_id.eq(p.to_string()));
    }
    if let Some(a) = &page.after {
        q = q.filter(i::id.gt(a.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Image| x.id.to_string(),
    ))
}

/// How many images a pool holds.
pub fn count_in_pool(conn: &mut DbConn, pool: PoolId) -> Result<i64, StoreError> {
    Ok(i::images
        .filter(i::pool_id.eq(pool.to_string()))
        .count()
        .get_result(conn)?)
}

/// Whether any template refers to the image.
pub fn in_use(conn: &mut DbConn, id: ImageId) -> Result<bool, StoreError> {
    let id = id.to_string();
    let n: i64 = t::table
        .filter(
            t::image_id
                .eq(&id)
                .or(t::kernel_image_id.eq(&id))
                .or(t::initrd_image_id.eq(&id)),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn delete(conn: &mut DbConn, id: ImageId) -> Result<bool, StoreError> {
    Ok(diesel::delete(i::images.find(id.to_string())).execute(conn)? > 0)
}
