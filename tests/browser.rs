//! End-to-end tests in a real browser: Debian's headless Chromium through chromedriver, against
//! the app on a random port. See `tests/common/browser.rs` for the harness.
mod common;

use common::browser::{self, Browser, Options, Theme, Viewport};
use common::*;

const PASSWORD: &str = "correct horse battery";

/// Takes a screenshot of the current page in both themes.
async fn shots(b: &Browser, page: &str) {
    for theme in Theme::ALL {
        b.set_theme(theme).await;
        b.screenshot(&format!("{page}-{}-{}", b.viewport.name(), theme.name()))
            .await;
    }
    b.set_theme(Theme::Light).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_every_main_page() {
    if !browser::enabled() {
        return;
    }
    let app = spawn_app_with(|c| c.sample_news = true).await;
    for viewport in Viewport::ALL {
        let b = Browser::launch(
            &app.base,
            Options {
                viewport,
                ..Options::default()
            },
        )
        .await;
        b.goto("/").await;
        b.find("h1").await;
        shots(&b, "home").await;

        b.goto("/register").await;
        b.fill("#username", "ab").await;
        b.fill("#email", "not-an-email").await;
        b.fill("#password", "short").await;
        b.click("form button[type=submit]").await;
        b.find("#username-error").await;
        shots(&b, "register-errors").await;

        b.goto("/login").await;
        b.find("#username").await;
        shots(&b, "login").await;

        b.goto("/no/such/page").await;
        b.find("#error-title").await;
        shots(&b, "404").await;

        b.goto("/register").await;
        let user = format!("shots_{}", viewport.name());
        b.fill("#username", &user).await;
        b.fill("#email", &format!("{user}@example.com")).await;
        b.fill("#password", PASSWORD).await;
        b.fill("#password_confirm", PASSWORD).await;
        b.click("form button[type=submit]").await;
        b.wait_for_path("/news").await;
        b.find(".card").await;
        shots(&b, "news").await;

        b.goto("/customize").await;
        b.find("fieldset").await;
        shots(&b, "customize").await;

        b.goto("/customize").await;
        b.click("input[name=country][value=jp]").await;
        b.click("form.customize button[type=submit]").await;
        b.wait_for_path("/news").await;
        b.find(".empty-state").await;
        shots(&b, "news-empty").await;
        b.close().await;
    }
}
