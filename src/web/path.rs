//! Typed values from the URL's path (ids, addresses): `PathId<T>` for one, `PathIds<A, B>` for two.

use std::str::FromStr;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::web::AppError;

/// One value from the URL's path, parsed with `FromStr`: anything that does not parse is
/// simply not found (`AppError::NotFound`), like an id of another customer's. A segment
/// axum cannot read as text at all keeps axum's own answer, as `Path<String>` gives it.
pub struct PathId<T>(pub T);

impl<T, S> FromRequestParts<S> for PathId<T>
where
    T: FromStr,
    S: Send + Sync,
{
    type Rejection = PathIdRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(PathIdRejection::Unreadable)?;
        parse(&raw).map(PathId)
    }
}

/// Two values from the URL's path, in the route's order, each read as [`PathId`] reads one.
pub struct PathIds<A, B>(pub A, pub B);

impl<A, B, S> FromRequestParts<S> for PathIds<A, B>
where
    A: FromStr,
    B: FromStr,
    S: Send + Sync,
{
    type Rejection = PathIdRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(PathIdRejection::Unreadable)?;
        Ok(PathIds(parse(&a)?, parse(&b)?))
    }
}

fn parse<T: FromStr>(raw: &str) -> Result<T, PathIdRejection> {
    raw.parse().map_err(|_| PathIdRejection::NotFound)
}

/// Why a [`PathId`] or [`PathIds`] was refused.
pub enum PathIdRejection {
    /// The path could not be read as text: axum's own answer, unchanged.
    Unreadable(PathRejection),
    /// The text is not a value of the type: `AppError::NotFound`.
    NotFound,
}

impl IntoResponse for PathIdRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unreadable(rejection) => rejection.into_response(),
            Self::NotFound => AppError::NotFound.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn status(uri: &str) -> StatusCode {
        let app = Router::new()
            .route(
                "/one/{id}",
                get(|PathId(id): PathId<i64>| async move { id.to_string() }),
            )
            .route(
                "/two/{a}/{b}",
                get(|PathIds(a, b): PathIds<i64, std::net::IpAddr>| async move { format!("{a} {b}") }),
            );
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_value_that_does_not_parse_is_not_found() {
        assert_eq!(status("/one/7").await, StatusCode::OK);
        assert_eq!(status("/two/7/192.0.2.1").await, StatusCode::OK);
        for bad in ["/one/x", "/one/7x", "/one/%20", "/two/x/192.0.2.1", "/two/7/nope"] {
            assert_eq!(status(bad).await, StatusCode::NOT_FOUND, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_path_that_is_not_text_keeps_axums_answer() {
        assert_eq!(status("/one/%FF").await, StatusCode::BAD_REQUEST);
    }
}
