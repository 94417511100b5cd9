//! The OpenAPI document (generated from the handlers' annotations) and Swagger UI, whose
//! assets are compiled into the binary, so `/docs` works with no internet access.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{admin, catalog, holds, ops, queue, reservations, tokens};

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
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Anonymous identities"),
        (name = "catalog", description = "Concerts and shows, public"),
        (name = "queue", description = "The waiting queue of a show"),
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
