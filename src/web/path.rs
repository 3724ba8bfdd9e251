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
