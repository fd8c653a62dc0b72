//! JSON request bodies. `Body<T>` reads the body with the app's `JsonConfig` (size limit, content type,
//! the malformed-JSON and type errors of `error::json_error`), then reads it as `T` — where a JSON
//! number with no fractional part counts as an integer however it is written (`35.0` is the integer
//! 35, as JSON Schema says), so a schema-valid body is never refused for its notation; and a body
//! must be a JSON object.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A request body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A body read whole as JSON: an object, its integral numbers made integers, then a `T`.
fn decode<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, actix_web::Error> {
    // every body is an object (serde would also read a struct from an array)
    if !value.is_object() {
        return Err(ApiError::field("body", "not_an_object", "must be a JSON object").into());
    }
    integral_numbers(&mut value);
    serde_json::from_value::<T>(value)
        .map_err(|e| ApiError::field("body", "invalid", e.to_string()).into())
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = json.await?;
            decode(value).map(Body)
        })
    }
}

/// The most a body carrying a CloudScript or a job's output may hold: the text (JSON-escaped, up to
/// twice its size) and the rest.
pub const SCRIPT_BODY_MAX: usize = 2 * common::api::SCRIPT_MAX_BYTES + 64 * 1024;

/// A request body that carries a CloudScript or a job's result: like [`Body`], with room for the
/// script or the output.
#[derive(Debug)]
pub struct ScriptBody<T>(pub T);

impl<T> ScriptBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ScriptBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::JsonBody::<serde_json::Value>::new(req, payload, None, true)
            .limit(SCRIPT_BODY_MAX);
        let req = req.clone();
        Box::pin(async move {
            let value = json.await.map_err(|e| crate::error::json_error(e, &req))?;
            decode(value).map(ScriptBody)
        })
    }
}

/// Rewrite every number with no fractional part (within the integer range) as an integer.
fn integral_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
            {
                if f >= 0.0 && f <= u64::MAX as f64 {
                    *v = Value::from(f as u64);
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = json!({"a": 35.0, "b": [1.0, 2.5, -3.0], "c": {"d": 1e2}, "e": "35.0", "f": 7});
        integral_numbers(&mut v);
        assert_eq!(
            v,
            json!({"a": 35, "b": [1, 2.5, -3], "c": {"d": 100}, "e": "35.0", "f": 7})
        );
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let mut big = json!({"a": 1e30});
        integral_numbers(&mut big);
        assert!(
            serde_json::from_value::<S>(big).is_err(),
            "out of range stays an error"
        );
    }
}
