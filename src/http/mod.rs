//! HTTP: one module per resource, each with its handlers and OpenAPI annotations.
//! `routes` wires them; the extractor configs here turn every malformed request into a
//! JSON 4xx before a handler runs.

mod admin;
mod catalog;
pub mod docs;
mod events;
mod fairness;
mod holds;
mod json;
mod ops;
mod pow;
mod queue;
mod reservations;
mod site;
mod tokens;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ApiError, Code};
use crate::state::AppState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers every route, the extractor error handlers and the JSON 404/405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(json_error))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error));
    ops::routes(cfg);
    docs::routes(cfg);
    tokens::routes(cfg);
    catalog::routes(cfg);
    admin::routes(cfg);
    queue::routes(cfg);
    holds::routes(cfg);
    reservations::routes(cfg);
    events::routes(cfg);
    pow::routes(cfg);
    fairness::routes(cfg);
    site::routes(cfg);
}

/// Every API answer says which store the deployment serves from (`Boxoffice-Backend: redis`
/// or `postgres`), so a page can tell its fans that the sale runs on the fallback without
/// asking anything more of the service.
pub async fn tell_backend(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = req.path().starts_with("/v1/");
    let mut response = next.call(req).await?;
    let backend = response.request().app_data::<web::Data<AppState>>().map(|state| state.sale.backend().backend());
    if let Some(backend) = backend.filter(|_| api) {
        response.headers_mut().insert(HeaderName::from_static("boxoffice-backend"), HeaderValue::from_static(backend));
    }
    Ok(response)
}

/// A resource whose unknown methods answer 405 in JSON.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// A 405 whose `Allow` lists what the path does allow, as the OpenAPI document says.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let allowed = req.match_pattern().and_then(|pattern| docs::allowed_methods(&pattern)).unwrap_or("GET");
    let error = ApiError::new(
        Code::MethodNotAllowed,
        format!("{} is not allowed on {}; use {allowed}", req.method(), req.path()),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allowed) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("no such endpoint: {} {}", req.method(), req.path())))
}

fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => too_large(),
        JsonPayloadError::ContentType => ApiError::unsupported_media_type(),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(Code::InvalidBody, e.to_string()),
        JsonPayloadError::Deserialize(e) => ApiError::new(Code::MalformedJson, e.to_string()),
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(),
        _ => ApiError::new(Code::InvalidBody, error.to_string()),
    };
    api.into()
}

fn too_large() -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("request bodies are limited to {MAX_BODY_BYTES} bytes"))
}

fn path_error(error: PathError, req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found(format!("no such resource: {} ({error})", req.path())).into()
}

fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(Code::InvalidQuery, error.to_string()).into()
}

/// An optional JSON object body: nothing (or `null`, which the contract allows as "no
/// body") is `None`; anything else must be a JSON object sent as JSON.
pub(crate) fn optional_object(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(Some(object)),
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(_) => Err(ApiError::new(Code::InvalidBody, "the body must be a JSON object, e.g. {}")),
        Err(e) => Err(ApiError::new(Code::MalformedJson, e.to_string())),
    }
}

/// A `201 Created` or `200 OK` JSON answer.
pub(crate) fn json_status<T: serde::Serialize>(created: bool, body: &T) -> HttpResponse {
    if created { HttpResponse::Created().json(body) } else { HttpResponse::Ok().json(body) }
}
