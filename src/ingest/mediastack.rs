//! mediastack (`GET {base}/news`): a paid API whose free plan allows about 100 requests a
//! month. Every request is paid for from a budget kept in the database (shared by all
//! instances, surviving restarts) and spread over the calendar month, and the API's
//! limit errors and HTTP 429 stop requests until the window they name has passed.
use serde_json::Value;
use time::OffsetDateTime;

use super::clean::{plain_text, redact_url};
use super::item::{Defaults, RawItem};
use super::report::{SourceReport, Status};
use super::Ingester;
use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;
use crate::secret::Secret;

/// The source's name in reports, metrics and the budget table.
pub const SOURCE: &str = "mediastack";
/// mediastack's maximum page size.
pub const PAGE_LIMIT: u32 = 100;
/// Pages one cycle may read while every item on them is new (each page costs a request).
pub const MAX_PAGES_PER_CYCLE: u32 = 3;

/// One page of results, or what the API said instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Items {
        items: Vec<RawItem>,
        total: Option<u64>,
    },
    ApiError {
        code: String,
        message: String,
    },
}

/// The request URL. It carries the key: never log it, only [`redact_url`] of it.
pub fn news_url(
    base: &str,
    key: &Secret<String>,
    filter: &FeedFilter,
    offset: u64,
) -> Result<url::Url, url::ParseError> {
    let mut url = url::Url::parse(&format!("{}/news", base.trim_end_matches('/')))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("access_key", key.expose());
        for (name, d) in [
            ("countries", Dimension::Country),
            ("languages", Dimension::Language),
            ("categories", Dimension::Category),
        ] {
            let codes = filter.get(d);
            if !codes.is_empty() {
                q.append_pair(name, &codes.join(","));
            }
        }
        q.append_pair("sort", "published_desc");
        q.append_pair("limit", &PAGE_LIMIT.to_string());
        q.append_pair("offset", &offset.to_string());
    }
    Ok(url)
}

/// Reads a response body; item fields of the wrong type become missing fields (the item is
/// then skipped with a reason), anything that is not the documented shape is an error.
pub fn parse_page(body: &[u8]) -> Result<Page, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    if let Some(err) = v.get("error") {
        let code = err
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error");
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        return Ok(Page::ApiError {
            code: plain_text(code, 64),
            message: plain_text(message, 200),
        });
    }
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("not a mediastack response (no `data` list)")?;
    let s = |item: &Value, k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    let items = data
        .iter()
        .map(|d| RawItem {
            title: s(d, "title"),
            link: s(d, "url"),
            description: s(d, "description"),
            author: s(d, "author"),
            image: s(d, "image"),
            published: s(d, "published_at"),
            category: s(d, "category"),
            country: s(d, "country"),
            language: s(d, "language"),
            source: s(d, "source"),
        })
        .collect();
    let total = v.pointer("/pagination/total").and_then(Value::as_u64);
    Ok(Page::Items { items, total })
}

/// `year * 100 + month` of `now` (UTC): the budget's period key.
pub fn period(now: i64) -> i64 {
    let t = at(now);
    i64::from(t.year()) * 100 + i64::from(u8::from(t.month()))
}

fn at(now: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Start of `now`'s calendar month and of the next one (UTC).
pub fn month_bounds(now: i64) -> (i64, i64) {
    let t = at(now);
    let start = t
        .replace_day(1)
        .map(|d| d.replace_time(time::Time::MIDNIGHT))
        .unwrap_or(t);
    let (y, m) = match t.month() {
        time::Month::December => (t.year() + 1, time::Month::January),
        m => (t.year(), m.next()),
    };
    let next = time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc())
        .unwrap_or(start);
    (start.unix_timestamp(), next.unix_timestamp())
}

/// Requests the budget allows by `now`: `floor(budget × elapsed fraction of the month) + 1`,
/// at most `budget`. Spreads the budget evenly, so a busy first day cannot spend the month.
pub fn allowed_so_far(budget: i64, now: i64) -> i64 {
    let (start, end) = month_bounds(now);
    let len = i128::from((end - start).max(1));
    let elapsed = i128::from((now - start).clamp(0, end - start));
    let allowed = i128::from(budget) * elapsed / len + 1;
    i64::try_from(allowed.min(i128::from(budget))).unwrap_or(budget)
}

/// When the spread allows request number `used + 1` (the next month if the budget is spent).
pub fn next_allowed_at(budget: i64, used: i64, now: i64) -> i64 {
    let (start, end) = month_bounds(now);
    if used >= budget || budget <= 0 {
        return end;
    }
    let len = i128::from(end - start);
    let wait = (i128::from(used) * len + i128::from(budget) - 1) / i128::from(budget);
    start + i64::try_from(wait).unwrap_or(0)
}

/// One cycle of mediastack: back-off and budget checks, then up to
/// [`MAX_PAGES_PER_CYCLE`] pages while every item on a page is new.
pub async fn ingest(ing: &Ingester, key: &Secret<String>, now: i64, cutoff: i64) -> SourceReport {
    let mut report = SourceReport::new(SOURCE);
    if let Err(e) = ingest_inner(ing, key, now, cutoff, &mut report).await {
        report.status = Status::Failed(format!("database: {e}"));
    }
    if let Status::Failed(why) = &report.status {
        tracing::warn!(source = SOURCE, error = %why, "mediastack ingestion failed");
    }
    report
}

async fn ingest_inner(
    ing: &Ingester,
    key: &Secret<String>,
    now: i64,
    cutoff: i64,
    report: &mut SourceReport,
) -> Result<(), crate::storage::Error> {
    let db = ing.db();
    let cfg = &ing.config().ingest;
    let state = db.source_state(SOURCE).await?;
    if state.blocked_until > now {
        report.status = Status::Skipped(format!(
            "{}; next request after {}",
            state.blocked_reason.as_deref().unwrap_or("backing off"),
            super::format_time(state.blocked_until)
        ));
        return Ok(());
    }
    let budget = i64::from(cfg.mediastack_monthly_budget);
    let period = period(now);
    let cap = allowed_so_far(budget, now);
    let defaults = Defaults {
        source: SOURCE.to_owned(),
        ..Defaults::default()
    };
    let mut offset: u64 = 0;
    for page in 0..MAX_PAGES_PER_CYCLE {
        if !db.reserve_request(SOURCE, period, cap).await? {
            let used = db.requests_used(SOURCE, period).await?;
            let why = format!(
                "request budget: {used} of {budget} used this month, {cap} allowed so far; next request allowed after {}",
                super::format_time(next_allowed_at(budget, used, now))
            );
            if page == 0 {
                report.status = Status::Skipped(why);
            } else {
                report.notes.push(format!("stopped paging: {why}"));
            }
            break;
        }
        report.requests += 1;
        let url = match news_url(
            &cfg.mediastack_base_url,
            key,
            &cfg.mediastack_filter,
            offset,
        ) {
            Ok(u) => u,
            Err(e) => {
                report.status = Status::Failed(format!("invalid base URL: {e}"));
                break;
            }
        };
        let response = match ing.http().get(&url, &[]).await {
            Ok(r) => r,
            Err(e) => {
                report.status = Status::Failed(format!("{} ({})", e, redact_url(url.as_str())));
                break;
            }
        };
        let parsed = parse_page(&response.body);
        // An error body says more than the status (usage limits wait for the next month).
        if response.status == 429 && !matches!(parsed, Ok(Page::ApiError { .. })) {
            let until = ing
                .back_off(SOURCE, SOURCE, response.retry_after.as_deref(), now, 429)
                .await?;
            report.status = Status::Failed(format!(
                "HTTP 429 (rate limited); next request after {}",
                super::format_time(until)
            ));
            break;
        }
        match parsed {
            Ok(Page::ApiError { code, message }) => {
                // Defence in depth: an upstream that echoes the key must not get it logged.
                let message = message.replace(key.expose().as_str(), "[redacted]");
                let until = match code.as_str() {
                    "usage_limit_reached" => {
                        let (_, next_month) = month_bounds(now);
                        db.block_source(
                            SOURCE,
                            SOURCE,
                            next_month,
                            Some("mediastack usage limit reached"),
                            now,
                        )
                        .await?;
                        Some(next_month)
                    }
                    "rate_limit_reached" => Some(
                        ing.back_off(
                            SOURCE,
                            SOURCE,
                            response.retry_after.as_deref(),
                            now,
                            response.status,
                        )
                        .await?,
                    ),
                    _ => None,
                };
                let mut why = format!("HTTP {}: mediastack error {code}", response.status);
                if !message.is_empty() {
                    why.push_str(&format!(": {message}"));
                }
                if let Some(until) = until {
                    why.push_str(&format!(
                        "; next request after {}",
                        super::format_time(until)
                    ));
                }
                report.status = Status::Failed(why);
                break;
            }
            Ok(Page::Items { .. }) | Err(_) if !(200..300).contains(&response.status) => {
                report.status = Status::Failed(format!("HTTP {}", response.status));
                break;
            }
            Err(e) => {
                report.status = Status::Failed(format!("HTTP {}: {e}", response.status));
                break;
            }
            Ok(Page::Items { items, total }) => {
                report.fetched += items.len() as u64;
                let articles = super::convert(&items, &defaults, now, cutoff, report);
                let stats = db.upsert_articles(&articles, now).await?;
                report.stored(stats);
                offset += items.len() as u64;
                let all_new = !items.is_empty() && stats.added == items.len() as u64;
                let more = total.is_some_and(|t| offset < t);
                if !(all_new && more) {
                    break;
                }
            }
        }
    }
    let used = db.requests_used(SOURCE, period).await?;
    report.notes.push(format!(
        "budget: {used} of {budget} requests used this month"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z: a 30-day month.
    const NOV: i64 = 1_793_491_200;
    const DEC: i64 = 1_796_083_200;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_bounds(NOV), (NOV, DEC));
        assert_eq!(month_bounds(DEC - 1), (NOV, DEC));
        assert_eq!(month_bounds(DEC), (DEC, DEC + 31 * 86_400));
        assert_eq!(period(NOV + 5), 202_611);
        assert_eq!(period(DEC + 31 * 86_400 - 1), 202_612);
    }

    #[test]
    fn the_budget_is_spread_over_the_month() {
        assert_eq!(allowed_so_far(100, NOV), 1);
        assert_eq!(allowed_so_far(100, NOV + 15 * 86_400), 51);
        assert_eq!(allowed_so_far(100, DEC - 1), 100);
        assert_eq!(allowed_so_far(3, NOV + 10 * 86_400), 2);
        // Never above the budget, whatever the month length.
        for day in 0..31 {
            assert!(allowed_so_far(1, NOV + day * 86_400) <= 1);
        }
        assert_eq!(next_allowed_at(100, 0, NOV + 7), NOV);
        assert_eq!(next_allowed_at(100, 50, NOV), NOV + 15 * 86_400);
        assert_eq!(next_allowed_at(100, 100, NOV), DEC);
        for used in 0..100 {
            let t = next_allowed_at(100, used, NOV);
            assert!(allowed_so_far(100, t) > used, "used {used}");
            assert!(
                t == NOV || allowed_so_far(100, t - 1) <= used,
                "used {used}"
            );
        }
    }

    #[test]
    fn urls_carry_filters_and_the_key() {
        let f = FeedFilter {
            countries: vec!["gb", "us"],
            categories: vec!["sports"],
            ..FeedFilter::default()
        };
        let url = news_url(
            "http://api.example/v1/",
            &Secret::new("k3y".into()),
            &f,
            100,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://api.example/v1/news?access_key=k3y&countries=gb%2Cus&categories=sports&sort=published_desc&limit=100&offset=100"
        );
        assert_eq!(redact_url(url.as_str()), "http://api.example/v1/news");
    }

    #[test]
    fn pages_and_errors_parse() {
        let page = br#"{"pagination":{"limit":100,"offset":0,"count":2,"total":2},"data":[
            {"author":null,"title":"T","description":"D","url":"https://e.org/1","source":"S","image":null,
             "category":"general","language":"en","country":"us","published_at":"2026-11-05T08:00:00+00:00"},
            {"title":5}]}"#;
        let Page::Items { items, total } = parse_page(page).unwrap() else {
            panic!("items expected")
        };
        assert_eq!(total, Some(2));
        assert_eq!(items[0].country.as_deref(), Some("us"));
        assert_eq!(items[0].author, None);
        assert_eq!(items[1], RawItem::default());
        let err = br#"{"error":{"code":"usage_limit_reached","message":"Monthly limit reached."}}"#;
        assert_eq!(
            parse_page(err).unwrap(),
            Page::ApiError {
                code: "usage_limit_reached".into(),
                message: "Monthly limit reached.".into()
            }
        );
        assert!(parse_page(b"{").unwrap_err().starts_with("malformed JSON"));
        assert!(parse_page(b"{\"data\":1}").is_err());
        assert!(parse_page(b"<html>").is_err());
    }
}
