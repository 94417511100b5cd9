//! The OpenAPI document (generated from the handlers' annotations) and Swagger UI, whose
//! assets are compiled into the binary, so `/docs` works with no internet access.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{admin, catalog, events, fairness, holds, ops, pow, queue, reservations, tokens};
use crate::error::Code;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "A fair first-come waiting queue, seat holds and reservations for concert on-sales. \
            Errors are `{\"error\": {\"code\", \"message\"}}`; a 503 carries `Retry-After`."
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics,
        tokens::issue_token,
        catalog::list_concerts, catalog::get_concert,
        queue::join_queue, queue::poll_queue, queue::leave_queue,
        holds::list_seats, holds::hold_seats, holds::my_holds, holds::release_hold,
        reservations::reserve, reservations::get_reservation,
        admin::create_concert, admin::create_show, admin::get_queue_config, admin::update_queue_config,
        admin::queue_stats,
        events::queue_stream::queue_events, events::seat_stream::seat_events,
        pow::challenge, fairness::fairness, fairness::entries,
    ),
    components(schemas(
        events::queue_stream::PositionEvent, events::queue_stream::ActiveEvent, crate::push::seats::SeatDelta,
        crate::sale::SeatList,
    )),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "users", description = "Anonymous identities"),
        (name = "catalog", description = "Concerts and shows, public"),
        (name = "queue", description = "The waiting queue of a show"),
        (name = "fairness", description = "A show's fair opening: the commitment, then the seed and the drawn places"),
        (name = "seats", description = "Seat map and holds, for active users"),
        (name = "reservations", description = "Buying held seats"),
        (name = "admin", description = "Needs an admin token (`boxoffice admin-token`)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The answers every operation of a kind can give, which the handlers' annotations leave
/// out: a bearer operation's 401 and 403 (and 410 on a show whose sale ended), a body's 400,
/// 413 and 415, a path id's 404 (not a number, or no such thing), and a 503 from any
/// operation that asks a store.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let intro = openapi.info.description.take().unwrap_or_default();
        openapi.info.description =
            Some(format!("{intro} Any operation may also answer {}.", described(&ANY_OPERATION)));
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            let asks_a_store = path.starts_with("/v1/");
            let of_a_show = path.starts_with("/v1/shows/{show_id}");
            for operation in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete].into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let with_body = operation.request_body.is_some();
                let common = [
                    (secured, "401", &[Code::Unauthorized][..]),
                    (secured, "403", &[Code::Forbidden, Code::QueueTokenRequired, Code::WrongShow]),
                    (secured && of_a_show, "410", &[Code::ShowEnded]),
                    (with_body, "400", &[Code::MalformedJson, Code::InvalidBody]),
                    (with_body, "413", &[Code::PayloadTooLarge]),
                    (with_body, "415", &[Code::UnsupportedMediaType]),
                    (has_id, "404", &[Code::NotFound]),
                    (asks_a_store, "503", &[Code::Unavailable]),
                ];
                for (_, status, codes) in common.into_iter().filter(|c| c.0) {
                    let responses = &mut operation.responses.responses;
                    responses.entry(status.to_string()).or_insert_with(|| error_response(&described(codes)));
                }
            }
        }
    }
}

/// "`a`: what a means; `b`: what b means".
fn described(codes: &[Code]) -> String {
    codes.iter().map(|code| format!("`{}`: {}", code.as_str(), code.meaning())).collect::<Vec<_>>().join("; ")
}

/// Codes any operation may answer, listed once in the document's description.
const ANY_OPERATION: [Code; 5] =
    [Code::BadRequest, Code::InvalidQuery, Code::MethodNotAllowed, Code::Conflict, Code::Internal];

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    let body = utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")));
    utoipa::openapi::ResponseBuilder::new().description(description).content("application/json", body).build().into()
}

/// The methods the document gives a path (`GET, POST`), for the `Allow` of a 405.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    static ALLOWED: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
        let paths = ApiDoc::openapi().paths.paths;
        paths.into_iter().map(|(path, item)| (path, methods_of(&item))).collect()
    });
    ALLOWED.get(path).map(String::as_str)
}

fn methods_of(item: &utoipa::openapi::PathItem) -> String {
    let methods = [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("DELETE", &item.delete)];
    methods.iter().filter(|(_, op)| op.is_some()).map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// The document as committed in `openapi/openapi.json`.
#[expect(clippy::expect_used, reason = "utoipa's document is plain data; a test writes it out on every run")]
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes") + "\n"
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
        .service(super::resource("/docs").route(web::get().to(docs_redirect)));
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::domain::{catalog, holds, pow, queue};

    fn schema(name: &str) -> Value {
        let doc: Value = serde_json::from_str(&super::openapi_json()).unwrap();
        doc["components"]["schemas"][name]["properties"].clone()
    }

    #[test]
    fn the_documented_bounds_are_the_ones_the_server_enforces() {
        let section = schema("SectionSpec");
        assert_eq!(section["rows"]["maximum"], catalog::MAX_ROWS);
        assert_eq!(section["seats_per_row"]["maximum"], catalog::MAX_SEATS_PER_ROW);
        assert_eq!(section["price"]["maximum"].as_f64(), Some(catalog::MAX_PRICE_CENTS as f64 / 100.0));
        assert_eq!(schema("NewShow")["sections"]["maxItems"], catalog::MAX_SECTIONS);
        assert_eq!(schema("NewConcert")["title"]["maxLength"], catalog::MAX_TITLE_LEN);
        assert_eq!(schema("SeatSelection")["seat_ids"]["maxItems"], holds::MAX_SEATS_PER_REQUEST);
        let patch = schema("QueueConfigPatch");
        assert_eq!(patch["max_active"]["maximum"], queue::MAX_ACTIVE_LIMIT);
        assert_eq!(patch["admit_per_second"]["maximum"].as_f64(), Some(queue::MAX_ADMIT_PER_SECOND));
        for ttl in ["session_ttl_s", "hold_ttl_s", "claim_window_s"] {
            assert_eq!(patch[ttl]["maximum"], queue::MAX_TTL_S, "{ttl}");
        }
        assert_eq!(patch["max_seats_per_user"]["maximum"], queue::MAX_SEATS_PER_USER_LIMIT);
        assert_eq!(patch["pow_bits"]["maximum"], pow::MAX_BITS);
    }
}
