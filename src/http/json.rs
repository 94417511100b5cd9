//! The JSON body extractor: actix's (size limit, content type, the JSON error answers of
//! `super::routes`), plus one thing JSON Schema says and serde doesn't: a number with no
//! fraction, such as `3.0`, is an integer. A client (or a schema-driven fuzzer) that writes
//! one gets what the OpenAPI document promises, not a 400.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::{FutureExt, LocalBoxFuture};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, Code};

pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<Value>::from_request(req, payload);
        async move {
            let web::Json(mut value) = value.await?;
            whole_numbers_as_integers(&mut value);
            serde_json::from_value(value).map(Json).map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()).into())
        }
        .boxed_local()
    }
}

/// The largest float that converts to an i64 exactly enough (2^53: beyond it floats skip
/// integers anyway).
const EXACT: f64 = 9_007_199_254_740_992.0;

fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
                && float.abs() <= EXACT
            {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_floats_become_integers_and_nothing_else_changes() {
        let mut value = json!({"rows": 3.0, "price": 49.99, "ids": [1.0, -2.0, 3], "name": "3.0", "big": 1e300});
        whole_numbers_as_integers(&mut value);
        assert_eq!(value, json!({"rows": 3, "price": 49.99, "ids": [1, -2, 3], "name": "3.0", "big": 1e300}));
        assert!(value["rows"].is_u64());
    }
}
