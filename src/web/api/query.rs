//! Query strings of the API's list endpoints: only known parameters, each at most once where
//! it is single, and one `limit` rule for every list.
use crate::web::error::AppError;
use crate::web::form::Form;

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 100;

/// A list endpoint's query, checked against the parameters it knows.
pub struct ListParams {
    form: Form,
}

impl ListParams {
    /// Refuses any parameter not in `known` (a typo must not be silently ignored).
    pub fn parse(raw: &str, known: &[&str]) -> Result<Self, AppError> {
        let form = Form::parse(raw.as_bytes());
        if let Some(key) = form.keys().find(|k| !known.contains(k)) {
            let shown: String = key.chars().take(40).collect();
            return Err(AppError::BadRequest(format!(
                "Unknown query parameter `{shown}`; use {}.",
                known.join(", ")
            )));
        }
        Ok(Self { form })
    }

    /// A parameter that may be given once.
    pub fn single<'a>(&'a self, key: &'a str) -> Result<Option<&'a str>, AppError> {
        let mut values = self.form.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(AppError::BadRequest(format!(
                "`{key}` may be given only once."
            )));
        }
        Ok(first)
    }

    /// Every value of a parameter that may repeat.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.form.all(key)
    }

    /// `limit`: 1 to 100, default 30.
    pub fn limit(&self) -> Result<u32, AppError> {
        let Some(raw) = self.single("limit")? else {
            return Ok(DEFAULT_LIMIT);
        };
        let n: i64 = raw.trim().parse().map_err(|_| {
            AppError::BadRequest(format!(
                "`limit` must be a whole number from 1 to {MAX_LIMIT}."
            ))
        })?;
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                AppError::Unprocessable(format!("`limit` must be from 1 to {MAX_LIMIT}."))
            })
    }

    /// `cursor`, decoded by the list's own cursor type; empty means the first page.
    pub fn cursor<C>(
        &self,
        decode: impl Fn(&str) -> Result<C, String>,
    ) -> Result<Option<C>, AppError> {
        self.single("cursor")?
            .filter(|c| !c.is_empty())
            .map(|c| decode(c).map_err(AppError::BadRequest))
            .transpose()
    }
}
