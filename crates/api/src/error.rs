//! The one place errors become HTTP: every status, one JSON shape
//! `{"detail", "code", "errors"?}`. 500s log the cause chain and tell the client nothing more.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use service::{FieldError, ServiceError};
use utoipa::ToSchema;

/// The error body of every non-2xx response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable sentence.
    pub detail: String,
    /// A stable snake_case code for programs.
    pub code: String,
    /// Invalid fields (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    /// Extra top-level fields (e.g. `limit`, `used`, `reset_date` on a 402).
    extra: Map<String, Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            extra: Map::new(),
        }
    }

    /// A 422 about one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::invalid_field(field, message).into()
    }

    /// Adds a top-level field to the body.
    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn body(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("detail".into(), Value::String(self.detail.clone()));
        body.insert("code".into(), Value::String(self.code.to_owned()));
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            let errors = self
                .errors
                .iter()
                .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
                .collect();
            body.insert("errors".into(), Value::Array(errors));
        }
        Value::Object(body)
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        use ServiceError as E;
        let retry_after = match &err {
            E::TooManyAttempts { retry_after_secs }
            | E::Busy { retry_after_secs }
            | E::ChangeInProgress { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let status = match &err {
            E::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::EmailTaken => StatusCode::CONFLICT,
            E::ForbiddenRole
            | E::WrongCurrentPassword
            | E::AccountDisabled
            | E::AdminRequired
            | E::InsufficientScope(_)
            | E::ForbiddenSelfChange(_) => StatusCode::FORBIDDEN,
            E::Quota { refusal, .. } if refusal.code() == "model_not_allowed" => {
                StatusCode::FORBIDDEN
            }
            E::Quota { .. } => StatusCode::PAYMENT_REQUIRED,
            E::RequestIdConflict | E::ReservationSettled | E::LastAdmin => StatusCode::CONFLICT,
            E::InvalidEmailToken => StatusCode::BAD_REQUEST,
            E::BillingUnavailable | E::Unavailable(_) | E::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::PaymentFailed { .. } => StatusCode::PAYMENT_REQUIRED,
            E::PaymentProvider(_) => StatusCode::BAD_GATEWAY,
            E::InvalidSignature => StatusCode::BAD_REQUEST,
            E::SubscriptionExists | E::ChangeInProgress { .. } => StatusCode::CONFLICT,
            E::InvalidCredentials
            | E::NotAuthenticated
            | E::InvalidToken
            | E::InvalidApiKey
            | E::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            E::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match &err {
            E::Invalid { code, .. } => code,
            E::EmailTaken => "email_taken",
            E::ForbiddenRole => "forbidden_role",
            E::BillingUnavailable => "billing_unavailable",
            E::PaymentFailed { .. } => "payment_failed",
            E::PaymentProvider(_) => "payment_provider_unavailable",
            E::InvalidSignature => "invalid_signature",
            E::SubscriptionExists => "subscription_exists",
            E::ChangeInProgress { .. } => "subscription_change_in_progress",
            E::InvalidCredentials | E::WrongCurrentPassword => "invalid_credentials",
            E::AccountDisabled => "account_disabled",
            E::TooManyAttempts { .. } => "too_many_attempts",
            E::NotAuthenticated => "not_authenticated",
            E::InvalidToken => "invalid_token",
            E::RefreshTokenReused => "refresh_token_reused",
            E::AdminRequired => "admin_required",
            E::InvalidApiKey => "invalid_api_key",
            E::InsufficientScope(_) => "insufficient_scope",
            E::ForbiddenSelfChange(_) => "forbidden_self_change",
            E::LastAdmin => "last_admin",
            E::NotFound(_) => "not_found",
            E::Quota { refusal, .. } => refusal.code(),
            E::RequestIdConflict => "request_id_conflict",
            E::ReservationSettled => "reservation_settled",
            E::InvalidEmailToken => "invalid_or_expired_token",
            E::Unavailable(_) => "service_unavailable",
            E::Busy { .. } => "service_busy",
            E::Internal { .. } => "internal_error",
        };
        let detail = match &err {
            E::Internal { .. } => {
                tracing::error!(error = %error_chain(&err), "internal error");
                "Internal server error.".to_owned()
            }
            E::Unavailable(_) => {
                tracing::warn!(error = %error_chain(&err), "database unavailable");
                err.to_string()
            }
            E::PaymentProvider(text) => {
                tracing::error!(error = %text, "payment provider error");
                err.to_string()
            }
            _ => err.to_string(),
        };
        let mut api = ApiError::new(status, code, detail);
        if let E::Invalid { errors, .. } = &err {
            api.errors = errors.clone();
        }
        api.retry_after = retry_after;
        if let E::PaymentFailed {
            decline_code: Some(code),
            ..
        } = &err
        {
            api = api.with_extra("decline_code", Value::String(code.clone()));
        }
        if let E::Quota {
            refusal,
            reset_date,
        } = &err
            && let (Some(limit), Some(used)) = (refusal.limit(), refusal.used())
        {
            api = api
                .with_extra("limit", Value::from(limit))
                .with_extra("used", Value::from(used))
                .with_extra(
                    "reset_date",
                    Value::String(crate::dto::timestamp(*reset_date)),
                );
        }
        api
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

/// A JSON body of the wrong shape (missing field, wrong type) is a 422 naming the field.
pub(crate) fn deserialize_error(err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    let field = field_of(&text).unwrap_or_else(|| "body".to_owned());
    let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
    let mut api = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        format!("Invalid request body: {message}."),
    );
    api.errors = vec![FieldError { field, message }];
    api
}

/// Pulls the field name out of serde's "missing field `x`" / "unknown variant" messages.
fn field_of(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let len = text.get(start..)?.find('`')?;
    let name = text.get(start..start + len)?;
    text.starts_with("missing field").then(|| name.to_owned())
}

/// Query strings actix refuses (a route reading its query with actix's `Query`; ours use
/// [`QueryParams`](crate::extractors::QueryParams), which names each bad parameter).
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    invalid_query(vec![FieldError {
        field: "query".to_owned(),
        message: err.to_string(),
    }])
    .into()
}

/// The 422 of a query string whose parameters do not deserialize, naming each.
pub(crate) fn invalid_query(errors: Vec<FieldError>) -> ApiError {
    let detail = match errors.as_slice() {
        [only] => format!("Invalid query parameter {}: {}.", only.field, only.message),
        many => format!("The query has {} invalid parameters.", many.len()),
    };
    let mut api = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", detail);
    api.errors = errors;
    api
}

/// Path segments that do not parse (e.g. a malformed id) name no resource.
pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such resource.").into()
}

/// Form bodies actix refuses.
pub fn form_error(err: UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        UrlencodedError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/x-www-form-urlencoded or application/json.",
        ),
        UrlencodedError::Overflow { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large.",
        ),
        other => {
            let mut api = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                format!("Invalid form body: {other}."),
            );
            api.errors = vec![FieldError {
                field: "body".to_owned(),
                message: other.to_string(),
            }];
            api
        }
    };
    api.into()
}

/// Last line of defence: any error response that is not already JSON (actix's own 404, 405,
/// 413, ...) gets the standard envelope.
pub fn ensure_json_body<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "No such route."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This method is not allowed on this route.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The request body is too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "This content type is not supported.",
        ),
        StatusCode::BAD_REQUEST => ("bad_request", "The request could not be understood."),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long to arrive."),
        s if s.is_server_error() => ("internal_error", "Internal server error."),
        _ => ("http_error", "The request failed."),
    };
    let api = ApiError::new(status, code, detail);
    let (req, old) = res.into_parts();
    let mut new = api.error_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    new.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res = ServiceResponse::new(req, new).map_into_boxed_body();
    Ok(ErrorHandlerResponse::Response(
        res.map_into_right_body_boxed(),
    ))
}

trait MapBoxed<B> {
    fn map_into_right_body_boxed(self) -> ServiceResponse<EitherBody<B>>;
}

impl<B> MapBoxed<B> for ServiceResponse<BoxBody> {
    fn map_into_right_body_boxed(self) -> ServiceResponse<EitherBody<B>> {
        self.map_body(|_, body| EitherBody::right(body))
    }
}
