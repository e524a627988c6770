//! End-to-end tests in a real browser: Debian's headless Chromium through chromedriver, against
//! the app on a random port (harness: `tests/common/browser.rs`). They cover the reader's whole
//! journey with a mouse on a phone and with only a keyboard on a desktop, validation errors,
//! both layouts, image fallbacks with and without JavaScript, and save screenshots of every
//! main page, light and dark, phone and desktop, under `target/screenshots/`.
//!
//! Every wait is a polled condition with a deadline (`Browser::wait_until`); nothing sleeps.
mod common;

use common::browser::{Browser, Options, Theme, Viewport};
use common::*;
use fantoccini::key::Key;
use newsread::domain::article::NewArticle;
use serde_json::Value;
use sqlx::Connection as _;

const PASSWORD: &str = "correct horse battery";

/// 40 Nigerian sports articles in English (a third with a local image), plus noise that a
/// Nigeria + English + Sports selection must hide.
fn journey_articles() -> Vec<NewArticle> {
    let mut articles: Vec<NewArticle> = (1..=40)
        .map(|n| NewArticle {
            image_url: (n % 3 == 0).then(|| format!("/static/img/sample/sports-{}.svg", n % 3 + 1)),
            ..article(n, "ng", "en", "sports")
        })
        .collect();
    articles.extend((41..=60).map(|n| article(n, "us", "en", "business")));
    articles.extend((61..=70).map(|n| article(n, "fr", "fr", "sports")));
    articles
}

async fn launch(app: &TestApp, viewport: Viewport) -> Browser {
    Browser::launch(
        &app.base,
        Options {
            viewport,
            ..Options::default()
        },
    )
    .await
}

/// The titles of the cards on the current page.
async fn card_titles(b: &Browser) -> Vec<String> {
    let v = b
        .js("return Array.from(document.querySelectorAll('.card-title a')).map(a => a.firstChild.textContent)")
        .await;
    serde_json::from_value(v).expect("titles")
}

async fn wait_for_card_count(b: &Browser, n: usize) -> Vec<String> {
    b.wait_until(&format!("{n} cards"), || async {
        let t = card_titles(b).await;
        (t.len() == n).then_some(t)
    })
    .await
}

async fn register_with_mouse(b: &Browser, user: &str) {
    b.goto("/register").await;
    b.fill("#username", user).await;
    b.fill("#email", &format!("{user}@example.com")).await;
    b.fill("#password", PASSWORD).await;
    b.fill("#password_confirm", PASSWORD).await;
    b.click("form[action='/register'] button[type=submit]")
        .await;
    b.wait_for_path("/news").await;
}

/// Landmarks, one h1, a label for every control, alt on every image, no console errors (CSP
/// violations from inline script or style would show there).
async fn assert_accessible_basics(b: &Browser, page: &str) {
    let problems = b
        .js(r#"
        const p = [];
        const one = (sel, what) => { const n = document.querySelectorAll(sel).length; if (n !== 1) p.push(`${n} ${what}`); };
        one('header.site-header', 'banner landmarks');
        one('main#main', 'main landmarks');
        one('footer.site-footer', 'contentinfo landmarks');
        one('h1', 'h1 headings');
        if (!document.querySelector('nav[aria-label]')) p.push('no labelled nav');
        if (document.documentElement.lang !== 'en') p.push('no lang');
        const skip = document.querySelector('a.skip-link');
        if (!skip || skip !== document.querySelector('body a')) p.push('skip link is not the first link');
        for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
          const name = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
            (el.labels && Array.from(el.labels).map(l => l.textContent).join(' ').trim()) ||
            (el.tagName === 'BUTTON' && el.textContent.trim());
          if (!name) p.push('unlabelled ' + el.outerHTML.slice(0, 80));
        }
        for (const img of document.images) if (!img.hasAttribute('alt')) p.push('img without alt ' + img.src);
        for (const el of document.querySelectorAll('[style]')) p.push('inline style on ' + el.tagName);
        return p;
        "#)
        .await;
    let problems: Vec<String> = serde_json::from_value(problems).expect("problems");
    assert!(problems.is_empty(), "{page}: {problems:#?}");
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{page}: console errors {errors:#?}");
}

/// Every visible text's contrast against its effective background meets WCAG AA (4.5:1, or
/// 3:1 for large text). Returns the failures.
async fn contrast_failures(b: &Browser) -> Vec<String> {
    let v = b
        .js(r#"
        const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
          const v = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 }; };
        const lum = c => { const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
          return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
        const bgOf = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
          if (c && c.a > 0.5) return c; } return parse(getComputedStyle(document.body).backgroundColor); };
        const out = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const seen = new Set();
        while (walker.nextNode()) {
          const t = walker.currentNode; const el = t.parentElement;
          if (!t.textContent.trim() || !el || seen.has(el)) continue; seen.add(el);
          if (el.closest('svg, [hidden], .visually-hidden, [aria-hidden=true]')) continue;
          const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) continue;
          const cs = getComputedStyle(el); if (cs.visibility === 'hidden' || cs.opacity === '0') continue;
          if (el.closest('.skip-link') && r.bottom < 0) continue;
          const fg = parse(cs.color); const bg = bgOf(el); if (!fg || !bg) continue;
          const l1 = lum(fg), l2 = lum(bg); const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
          const size = parseFloat(cs.fontSize); const bold = parseInt(cs.fontWeight, 10) >= 700;
          const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
          if (ratio < need) out.push(`${ratio.toFixed(2)} < ${need}: "${t.textContent.trim().slice(0, 40)}" (${cs.color} on rgb(${bg.r}, ${bg.g}, ${bg.b}))`);
        }
        return out;
        "#)
        .await;
    serde_json::from_value(v).expect("contrast report")
}

/// Screenshots of the current page in both themes, after checking its contrast in each.
async fn shots(b: &Browser, page: &str) {
    assert_accessible_basics(b, page).await;
    for theme in Theme::ALL {
        b.set_theme(theme).await;
        let failures = contrast_failures(b).await;
        assert!(
            failures.is_empty(),
            "{page} ({}, {}): text below WCAG AA contrast: {failures:#?}",
            b.viewport.name(),
            theme.name()
        );
        b.screenshot(&format!("{page}-{}-{}", b.viewport.name(), theme.name()))
            .await;
    }
    b.set_theme(Theme::Light).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_every_main_page() {
    let app = spawn_app_with(|c| c.sample_news = true).await;
    // A second instance that throttles every login attempt, for the 429 page.
    let strict = spawn_app_with(|c| {
        c.throttle.login_per_address = newsread::config::Limit {
            max: 0,
            window: std::time::Duration::from_secs(600),
        };
    })
    .await;
    for viewport in Viewport::ALL {
        let b = launch(&app, viewport).await;
        b.goto("/").await;
        b.find(".hero h1").await;
        shots(&b, "home").await;

        b.goto("/register").await;
        b.fill("#username", "ab").await;
        b.fill("#email", "not-an-email").await;
        b.fill("#password", "short").await;
        b.click("form[action='/register'] button[type=submit]")
            .await;
        b.find("#username-error").await;
        shots(&b, "register-errors").await;

        b.goto("/login").await;
        b.find("#username").await;
        shots(&b, "login").await;

        b.goto("/no/such/page").await;
        b.find_text("#error-title", "Not Found").await;
        shots(&b, "404").await;

        register_with_mouse(&b, &format!("shots_{}", viewport.name())).await;
        b.find(".card").await;
        shots(&b, "news").await;

        b.click("a.nav-link[href='/account']").await;
        b.wait_for_path("/account").await;
        b.fill("#password", "short").await;
        b.click("form[action='/account/password'] button[type=submit]")
            .await;
        b.find("#password-error").await;
        assert!(
            b.focused_matches("#current_password").await,
            "the first invalid field has the focus"
        );
        shots(&b, "account-errors").await;

        b.goto("/customize").await;
        b.find("[data-tools]:not([hidden])").await;
        shots(&b, "customize").await;

        // Searching narrows the list; the screenshot shows the search in use.
        b.fill("#filter-country", "land").await;
        b.wait_until("the search to hide other countries", || async {
            let v = b
                .js("return document.querySelectorAll('#group-country .choice:not([hidden])').length")
                .await;
            (v.as_u64().is_some_and(|n| n > 0 && n < 10)).then_some(())
        })
        .await;
        shots(&b, "customize-search").await;

        b.goto("/customize").await;
        b.click("input[name=country][value=jp]").await;
        b.click("form.customize button[type=submit]").await;
        b.wait_for_path("/news").await;
        b.find(".empty-state").await;
        shots(&b, "news-empty").await;
        b.close().await;

        let b = Browser::launch(
            &strict.base,
            Options {
                viewport,
                ..Options::default()
            },
        )
        .await;
        b.goto("/login").await;
        b.fill("#username", "somebody").await;
        b.fill("#password", PASSWORD).await;
        b.click("form[action='/login'] button[type=submit]").await;
        b.find_text("#error-title", "Too Many Requests").await;
        // The browser logs the 429 response itself as a console error.
        let _ = b.console_errors().await;
        shots(&b, "429").await;

        // 503: on SQLite, a writer holding the database's write lock past the busy timeout
        // makes the next write fail as "unavailable" (the server backends are taken down in
        // the replica and operations tests instead).
        if backend() == Dialect::Sqlite {
            install_drivers();
            let mut lock = sqlx::AnyConnection::connect(&strict.database.url)
                .await
                .expect("second connection to the SQLite file");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut lock)
                .await
                .expect("take the write lock");
            b.goto("/login").await;
            b.fill("#username", "somebody").await;
            b.fill("#password", PASSWORD).await;
            b.click("form[action='/login'] button[type=submit]").await;
            // The form comes back (503) with what was typed and the read-only message.
            b.find_text("#login-error", "read-only for a moment").await;
            let _ = b.console_errors().await;
            shots(&b, "503").await;
            sqlx::query("ROLLBACK").execute(&mut lock).await.ok();
            lock.close().await.ok();
        }
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_customize_read_older_log_out_and_back_in_on_a_phone() {
    let app = spawn_app().await;
    app.seed(&journey_articles()).await;
    let b = launch(&app, Viewport::Phone).await;

    // Anonymous: the landing page, and the news page sends us to log in.
    b.goto("/").await;
    b.click("a.button[href='/register']").await;
    b.wait_for_path("/register").await;
    register_with_mouse(&b, "phone_reader").await;
    let flash = b.text(".flash").await;
    assert!(flash.contains("Welcome to NewsRead"), "{flash}");
    assert_eq!(
        wait_for_card_count(&b, 30).await[0],
        "Article 70 from fr in fr about sports"
    );

    // The flash can be dismissed (JavaScript), and focus goes somewhere sensible.
    b.click(".flash-close").await;
    b.wait_until("the flash to go", || async {
        b.find_all(".flash").await.is_empty().then_some(())
    })
    .await;
    assert!(b.focused_matches("main").await);

    // Customize: find a country by typing, pick a language and a category.
    b.click("a.nav-link[href='/customize']").await;
    b.wait_for_path("/customize").await;
    let count = b.text("#match-count").await;
    assert!(count.contains("matches 70 articles"), "{count}");
    b.fill("#filter-country", "nige").await;
    b.wait_until("only Nigeria to be listed", || async {
        let v = b
            .js("return Array.from(document.querySelectorAll('#group-country .choice:not([hidden])')).map(c => c.textContent.trim())")
            .await;
        (v == serde_json::json!(["Nigeria"])).then_some(())
    })
    .await;
    b.click("#group-country [data-select-all]").await;
    assert_eq!(
        b.text("#group-country [data-count]").await,
        "1 of 56 selected"
    );
    b.click("input[name=language][value=en]").await;
    b.click("input[name=category][value=sports]").await;
    assert_eq!(b.text("[data-dirty-note]").await, "Unsaved changes");
    b.click("form.customize button[type=submit]").await;
    b.wait_for_path("/news").await;
    assert!(b
        .text(".flash")
        .await
        .contains("Your feed preferences were saved."));
    let selection = b.text(".selection").await;
    assert!(
        selection.contains("Countries: Nigeria")
            && selection.contains("Languages: English")
            && selection.contains("Categories: Sports"),
        "{selection}"
    );
    let page1 = wait_for_card_count(&b, 30).await;
    assert!(page1.iter().all(|t| t.contains("from ng")), "{page1:?}");
    assert_eq!(page1[0], "Article 40 from ng in en about sports");
    // Each card shows its category badge, source and relative time.
    let card = b.text(".card").await;
    assert!(
        card.contains("SPORTS") && card.contains("Example Wire"),
        "{card}"
    );
    let time = b.find(".card time").await;
    assert!(time.attr("datetime").await.unwrap().is_some());

    // Older articles: the remaining ten, then the end.
    b.click("a[rel=next]").await;
    b.wait_for_path("/news?cursor=*").await;
    let page2 = wait_for_card_count(&b, 10).await;
    assert_eq!(page2[0], "Article 10 from ng in en about sports");
    assert_eq!(page2[9], "Article 1 from ng in en about sports");
    assert!(b.find_all("a[rel=next]").await.is_empty());
    b.find_text(".pager-end", "all caught up").await;

    // The saved selection and its count are on the customize page.
    b.click("a.nav-link[href='/customize']").await;
    b.wait_for_path("/customize").await;
    assert!(b.text("#match-count").await.contains("matches 40 articles"));
    for code in ["ng", "en", "sports"] {
        let checked = b
            .find(&format!("input[value={code}]:checked"))
            .await
            .is_selected()
            .await
            .unwrap();
        assert!(checked, "{code} stays checked");
    }

    // Log out, then back in: the selection is still there.
    b.click("form[action='/logout'] button").await;
    b.wait_for_path("/").await;
    assert!(b.text(".flash").await.contains("You have been logged out."));
    b.goto("/news").await;
    b.wait_for_path("/login?next=%2Fnews").await;
    b.fill("#username", "phone_reader").await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_for_path("/news").await;
    let again = wait_for_card_count(&b, 30).await;
    assert_eq!(again, page1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_are_shown_next_to_their_fields() {
    let app = spawn_app().await;
    app.signed_up("taken_name").await;
    let b = launch(&app, Viewport::Phone).await;

    b.goto("/register").await;
    b.fill("#username", "bad name!").await;
    b.fill("#email", "nope").await;
    b.fill("#password", "short").await;
    b.click("form[action='/register'] button[type=submit]")
        .await;
    b.find("#username-error").await;
    // Each message sits in its field's own block, right under the input, and is announced
    // with it (aria-describedby); the first invalid field has the focus.
    let report = b
        .js(r#"
        return ['username', 'email', 'password'].map(f => {
          const input = document.getElementById(f);
          const err = document.getElementById(f + '-error');
          return {
            field: f,
            same_block: !!err && err.closest('.field') === input.closest('.field'),
            below: !!err && err.getBoundingClientRect().top >= input.getBoundingClientRect().bottom,
            described: (input.getAttribute('aria-describedby') || '').split(' ').includes(f + '-error'),
            invalid: input.getAttribute('aria-invalid') === 'true',
            visible: !!err && err.getBoundingClientRect().height > 0,
            text: err ? err.textContent : '',
          };
        });
        "#)
        .await;
    for f in report.as_array().unwrap() {
        for key in ["same_block", "below", "described", "invalid", "visible"] {
            assert_eq!(f[key], Value::Bool(true), "{key}: {f}");
        }
    }
    assert!(report[0]["text"].as_str().unwrap().contains("only letters"));
    assert!(report[1]["text"].as_str().unwrap().contains("valid email"));
    assert!(report[2]["text"].as_str().unwrap().contains("at least 8"));
    assert!(b.find_all("#password_confirm-error").await.is_empty());
    assert!(
        b.focused_matches("#username").await,
        "focus on the first invalid field"
    );
    // Typed values come back (not the password), and the summary links to the fields.
    let username = b.find("#username").await.prop("value").await.unwrap();
    assert_eq!(username.as_deref(), Some("bad name!"));
    b.click(".error-summary a[href='#email']").await;
    b.wait_until("the summary link to reach the email field", || async {
        (b.fragment().await.as_deref() == Some("email") && b.focused_matches("#email").await)
            .then_some(())
    })
    .await;

    // A taken username is reported on the username only.
    b.goto("/register").await;
    b.fill("#username", "TAKEN_NAME").await;
    b.fill("#email", "fresh@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#password_confirm", "something else entirely").await;
    b.click("form[action='/register'] button[type=submit]")
        .await;
    b.find("#password_confirm-error").await;
    assert!(b
        .text("#password_confirm-error")
        .await
        .contains("do not match"));
    b.fill("#password", PASSWORD).await;
    b.fill("#password_confirm", PASSWORD).await;
    b.click("form[action='/register'] button[type=submit]")
        .await;
    b.find_text("#username-error", "already taken").await;
    assert!(b.find_all("#email-error").await.is_empty());

    // Login: one message for the form, tied to both fields.
    b.goto("/login").await;
    b.fill("#username", "taken_name").await;
    b.fill("#password", "wrong password").await;
    b.click("form[action='/login'] button[type=submit]").await;
    let error = b.find("#login-error").await;
    assert_eq!(error.attr("role").await.unwrap().as_deref(), Some("alert"));
    assert!(error
        .text()
        .await
        .unwrap()
        .contains("Invalid username or password."));
    assert!(
        b.focused_matches("#password").await,
        "focus back on the password"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_with_the_keyboard_only() {
    let app = spawn_app().await;
    app.seed(&journey_articles()).await;
    let b = launch(&app, Viewport::Desktop).await;
    // The only navigation not done with keys.
    b.goto("/").await;
    b.find(".hero").await;

    // The first Tab shows the skip link; Enter moves the focus to the main content.
    b.press(&[Key::Tab]).await;
    assert!(
        b.focused_matches("a.skip-link").await,
        "{:?}",
        b.focus().await
    );
    let focus = b
        .wait_until("the skip link to slide into view", || async {
            let f = b.focus().await;
            f.in_view.then_some(f)
        })
        .await;
    assert!(focus.indicator, "skip link has a focus ring: {focus:?}");
    b.press(&[Key::Enter]).await;
    b.wait_until("focus on main", || async {
        b.focused_matches("main#main").await.then_some(())
    })
    .await;
    b.press(&[Key::Tab]).await;
    assert!(
        b.focused_matches(".hero a[href='/register']").await,
        "after skipping, Tab goes to the page's first action, not the header: {:?}",
        b.focus().await
    );
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/register").await;

    // Register, first with a username that is too short.
    b.tab_to("#username").await;
    b.type_keys("kb").await;
    b.press(&[Key::Tab]).await;
    assert!(b.focused_matches("#email").await);
    b.type_keys("keys@example.com").await;
    b.press(&[Key::Tab]).await;
    b.type_keys(PASSWORD).await;
    b.press(&[Key::Tab]).await;
    assert!(b.focused_matches("#password_confirm").await);
    b.type_keys(PASSWORD).await;
    b.press(&[Key::Enter]).await;
    b.find("#username-error").await;
    assert!(
        b.focused_matches("#username").await,
        "focus on the field to fix"
    );
    // Select the old value and type over it.
    b.chord(Key::Control, 'a').await;
    b.type_keys("keyboard_reader").await;
    b.tab_to("#password").await;
    b.type_keys(PASSWORD).await;
    b.press(&[Key::Tab]).await;
    b.type_keys(PASSWORD).await;
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/news").await;
    wait_for_card_count(&b, 30).await;

    // Customize with the keyboard: search, Enter jumps to the first match, Space checks it.
    b.tab_to("a.nav-link[href='/customize']").await;
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/customize").await;
    b.tab_to("#filter-country").await;
    b.type_keys("nigeria").await;
    b.press(&[Key::Enter]).await;
    b.wait_until("Enter in the search to focus the first match", || async {
        b.focused_matches("input[name=country][value=ng]")
            .await
            .then_some(())
    })
    .await;
    assert_eq!(
        b.path().await,
        "/customize",
        "Enter in the search did not submit"
    );
    b.press(&[Key::Space]).await;
    b.tab_to("input[name=language][value=en]").await;
    b.press(&[Key::Space]).await;
    b.tab_to("input[name=category][value=sports]").await;
    b.press(&[Key::Space]).await;
    let checked = b
        .js("return Array.from(document.querySelectorAll('input[type=checkbox]:checked')).map(b => b.value)")
        .await;
    assert_eq!(checked, serde_json::json!(["ng", "en", "sports"]));
    b.screenshot_viewport("keyboard-focus-customize-desktop-light")
        .await;
    b.tab_to("form.customize button[type=submit]").await;
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/news").await;
    let page1 = wait_for_card_count(&b, 30).await;
    assert!(page1.iter().all(|t| t.contains("from ng")), "{page1:?}");

    // Older articles: Tab through every card (each focus stop visible) to the pager.
    b.tab_to(".card:nth-child(5) .card-title a").await;
    b.screenshot_viewport("keyboard-focus-news-desktop-light")
        .await;
    let stops = b.tab_to("a[rel=next]").await;
    assert!(stops.len() >= 25, "every card title is a stop: {stops:#?}");
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/news?cursor=*").await;
    wait_for_card_count(&b, 10).await;

    // Log out with Space on the button, log back in with Enter.
    b.tab_to("form[action='/logout'] button").await;
    b.press(&[Key::Space]).await;
    b.wait_for_path("/").await;
    b.find_text(".flash", "You have been logged out.").await;
    b.tab_to("a.nav-link[href='/login']").await;
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/login").await;
    b.tab_to("#username").await;
    b.type_keys("keyboard_reader").await;
    b.press(&[Key::Tab]).await;
    b.type_keys(PASSWORD).await;
    b.press(&[Key::Enter]).await;
    b.wait_for_path("/news").await;
    let again = wait_for_card_count(&b, 30).await;
    assert_eq!(again, page1, "the selection survived logging out");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layouts_fit_a_phone_and_a_desktop() {
    let app = spawn_app_with(|c| c.sample_news = true).await;
    for viewport in Viewport::ALL {
        let b = launch(&app, viewport).await;
        let (width, _) = viewport.size();
        register_with_mouse(&b, &format!("layout_{}", viewport.name())).await;
        assert_eq!(b.js("return innerWidth").await, serde_json::json!(width));
        for path in ["/news", "/customize", "/account", "/no/such/page"] {
            b.goto(path).await;
            b.find("h1").await;
            assert_accessible_basics(&b, path).await;
            let overflow = b
                .js("return document.documentElement.scrollWidth - innerWidth")
                .await;
            assert_eq!(
                overflow,
                serde_json::json!(0),
                "{path} scrolls sideways at {width}px"
            );
            // Touch targets: buttons, nav links and checkboxes' labels are at least 36px tall.
            let small = b
                .js(r#"return Array.from(document.querySelectorAll('.button, .nav-link, .choice'))
                    .filter(e => e.getBoundingClientRect().height > 0 && e.getBoundingClientRect().height < 36)
                    .map(e => e.textContent.trim())"#)
                .await;
            assert_eq!(small, serde_json::json!([]), "{path}: small targets");
        }

        b.goto("/news").await;
        b.find(".card").await;
        let columns = b
            .js("return getComputedStyle(document.querySelector('.cards')).gridTemplateColumns.split(' ').length")
            .await;
        match viewport {
            Viewport::Phone => assert_eq!(columns, serde_json::json!(1)),
            Viewport::Desktop => assert!(columns.as_u64().unwrap() >= 3, "{columns}"),
        }
        // Every image box is 16:9 before and after its image loads (the lead card on a
        // desktop is a side-by-side layout), lazy below the fold, sized in the markup.
        let boxes = b
            .js(r#"return Array.from(document.querySelectorAll('.card-media')).slice(viewport_skip()).map(m => {
                  const r = m.getBoundingClientRect(); const img = m.querySelector('img');
                  return { ratio: r.width / r.height, lazy: img.loading, w: img.getAttribute('width'), h: img.getAttribute('height') };
                });
                function viewport_skip() { return innerWidth >= 960 ? 1 : 0; }"#)
            .await;
        let boxes = boxes.as_array().unwrap();
        assert!(boxes.len() >= 20);
        for (i, m) in boxes.iter().enumerate() {
            let ratio = m["ratio"].as_f64().unwrap();
            assert!((ratio - 16.0 / 9.0).abs() < 0.02, "card {i}: ratio {ratio}");
            assert_eq!(
                (m["w"].as_str(), m["h"].as_str()),
                (Some("640"), Some("360"))
            );
        }
        assert_eq!(boxes.last().unwrap()["lazy"], "lazy");
        // No layout shift while the page and its images load, even scrolled to the end.
        b.js("window.scrollTo(0, document.body.scrollHeight)").await;
        b.wait_until("the images in view to load", || async {
            let v = b
                .js(r#"return Array.from(document.images).every(i => {
                    const r = i.getBoundingClientRect();
                    return r.bottom < 0 || r.top > innerHeight || (i.complete && i.naturalWidth > 0);
                  })"#)
                .await;
            (v == true).then_some(())
        })
        .await;
        let cls = b
            .js_async(
                r#"
            const done = arguments[arguments.length - 1];
            let cls = 0;
            new PerformanceObserver(list => {
              for (const e of list.getEntries()) if (!e.hadRecentInput) cls += e.value;
            }).observe({ type: 'layout-shift', buffered: true });
            requestAnimationFrame(() => requestAnimationFrame(() => done(cls)));
            "#,
            )
            .await;
        let cls = cls.as_f64().unwrap();
        assert!(cls < 0.01, "cumulative layout shift {cls} at {width}px");
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_missing_images_show_the_local_placeholder() {
    let app = spawn_app().await;
    // Newest first: a broken remote image (404 from the app itself), then no image at all.
    app.seed(&[
        NewArticle {
            image_url: Some(format!("{}/static/img/gone-{}.png", app.base, 2)),
            ..article(2, "gb", "en", "science")
        },
        article(1, "gb", "en", "science"),
    ])
    .await;
    let placeholder = "/static/img/placeholder.";

    // With JavaScript: the broken image is swapped for the placeholder.
    let b = launch(&app, Viewport::Desktop).await;
    register_with_mouse(&b, "image_reader").await;
    let imgs = b.find_all(".card-media img").await;
    assert_eq!(imgs.len(), 2);
    b.wait_until("the broken image to be replaced", || async {
        let src = imgs[0].attr("src").await.ok().flatten()?;
        src.starts_with(placeholder).then_some(())
    })
    .await;
    assert!(imgs[0].attr("data-fallback").await.unwrap().is_some());
    let missing = imgs[1].attr("src").await.unwrap().unwrap();
    assert!(missing.starts_with(placeholder), "{missing}");
    b.wait_until("the placeholders to render", || async {
        let v = b
            .js("return Array.from(document.querySelectorAll('.card-media img')).every(i => i.complete && i.naturalWidth > 0)")
            .await;
        (v == true).then_some(())
    })
    .await;
    b.screenshot("image-fallback-js-desktop-light").await;
    b.close().await;

    // Without JavaScript the broken image stays broken, but its box is painted with the same
    // placeholder by the stylesheet, and keeps its size.
    let b = Browser::launch(
        &app.base,
        Options {
            viewport: Viewport::Phone,
            javascript: false,
        },
    )
    .await;
    b.goto("/login").await;
    b.fill("#username", "image_reader").await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_for_path("/news").await;
    let media = b.find(".card-media").await;
    let background = media.css_value("background-image").await.unwrap();
    assert!(background.contains("img/placeholder.svg"), "{background}");
    let (_, _, w, h) = media.rectangle().await.unwrap();
    assert!((w / h - 16.0 / 9.0).abs() < 0.02, "{w}x{h}");
    let src = b
        .find(".card-media img")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(
        src.contains("/static/img/gone-2.png"),
        "no script ran: {src}"
    );
    b.screenshot("image-fallback-nojs-phone-light").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_works_without_javascript() {
    let app = spawn_app().await;
    app.seed(&journey_articles()).await;
    let b = Browser::launch(
        &app.base,
        Options {
            viewport: Viewport::Phone,
            javascript: false,
        },
    )
    .await;
    register_with_mouse(&b, "no_script").await;
    wait_for_card_count(&b, 30).await;
    // app.js did not run: it would have added a close button to the welcome message.
    b.find_text(".flash", "Welcome to NewsRead").await;
    assert!(
        b.find_all(".flash-close").await.is_empty(),
        "scripts are off"
    );

    // Customize: the search tools need JavaScript and stay hidden; every checkbox is there.
    b.goto("/customize").await;
    let tools = b.find("#group-country [data-tools]").await;
    assert!(
        !tools.is_displayed().await.unwrap(),
        "tools hidden without JS"
    );
    assert_eq!(b.find_all("input[name=country]").await.len(), 56);
    b.click("input[name=country][value=ng]").await;
    b.click("input[name=category][value=sports]").await;
    b.click("form.customize button[type=submit]").await;
    b.wait_for_path("/news").await;
    let titles = wait_for_card_count(&b, 30).await;
    assert!(titles.iter().all(|t| t.contains("from ng")), "{titles:?}");
    b.click("a[rel=next]").await;
    b.wait_for_path("/news?cursor=*").await;
    wait_for_card_count(&b, 10).await;
    // The empty state offers a way out: one button back to everything.
    b.goto("/customize").await;
    b.click("input[name=country][value=jp]").await;
    b.click("input[name=country][value=ng]").await;
    b.click("form.customize button[type=submit]").await;
    b.wait_for_path("/news").await;
    b.find_text(".empty-state h2", "No articles match").await;
    b.click(".empty-state form button").await;
    b.wait_for_path("/news").await;
    assert_eq!(
        wait_for_card_count(&b, 30).await[0],
        "Article 70 from fr in fr about sports"
    );
    assert!(b.text(".selection").await.contains("Showing all countries"));
    b.click("form[action='/logout'] button").await;
    b.wait_for_path("/").await;
    b.find_text(".flash", "You have been logged out.").await;
    b.close().await;
}

/// `aria-pressed` and the visible label of the save button matching `css`.
async fn save_button_state(b: &Browser, css: &str) -> (String, String) {
    let el = b.find(css).await;
    let pressed = el.attr("aria-pressed").await.unwrap().unwrap_or_default();
    let label = el.text().await.unwrap();
    (pressed, label.trim().to_owned())
}

async fn wait_for_save_state(b: &Browser, css: &str, pressed: &str, label: &str) {
    b.wait_until(&format!("{css} to show {label}"), || async {
        (save_button_state(b, css).await == (pressed.to_owned(), label.to_owned())).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_and_unsaving_in_place_with_javascript_on_a_phone_and_a_desktop() {
    let app = spawn_app().await;
    app.seed(&journey_articles()).await;
    for viewport in Viewport::ALL {
        let b = launch(&app, viewport).await;
        register_with_mouse(&b, &format!("js_saver_{}", viewport.name())).await;
        let titles = wait_for_card_count(&b, 30).await;
        let button = ".card:nth-child(2) button[data-save]";
        let id = b
            .find(button)
            .await
            .attr("data-save")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            save_button_state(&b, button).await,
            ("false".to_owned(), "Save".to_owned())
        );
        // A page load would wipe this marker: the toggle must happen in place.
        b.js("window.stillThisPage = true").await;
        b.click(button).await;
        wait_for_save_state(&b, button, "true", "Saved").await;
        assert_eq!(b.js("return window.stillThisPage === true").await, true);
        assert_eq!(b.path().await, "/news");
        let action = b.find(button).await.attr("formaction").await.unwrap();
        assert_eq!(action, Some(format!("/saved/{id}/remove")));
        b.find_text("[data-save-status]", "Article saved.").await;

        // Stored on the server: the saved page lists it, marked Saved.
        b.click("a.nav-link[href='/saved']").await;
        b.wait_for_path("/saved").await;
        assert_eq!(wait_for_card_count(&b, 1).await, vec![titles[1].clone()]);
        let on_saved = ".card button[data-save]";
        wait_for_save_state(&b, on_saved, "true", "Saved").await;
        b.find_text(".card-saved", "Saved just now").await;
        shots(&b, "saved").await;

        // Unsaved in place: the card stays, showing Save, so it can be saved again.
        b.js("window.stillThisPage = true").await;
        b.click(on_saved).await;
        wait_for_save_state(&b, on_saved, "false", "Save").await;
        assert_eq!(b.js("return window.stillThisPage === true").await, true);
        b.find_text("[data-save-status]", "removed").await;
        b.goto("/saved").await;
        b.find_text(".empty-state h2", "No saved articles yet")
            .await;
        shots(&b, "saved-empty").await;
        b.goto("/news").await;
        wait_for_save_state(&b, button, "false", "Save").await;
        let errors = b.console_errors().await;
        assert!(errors.is_empty(), "console errors {errors:#?}");
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_and_unsaving_without_javascript_on_a_phone_and_a_desktop() {
    let app = spawn_app().await;
    app.seed(&journey_articles()).await;
    for viewport in Viewport::ALL {
        let b = Browser::launch(
            &app.base,
            Options {
                viewport,
                javascript: false,
            },
        )
        .await;
        register_with_mouse(&b, &format!("form_saver_{}", viewport.name())).await;
        let titles = wait_for_card_count(&b, 30).await;
        let button = ".card:nth-child(3) button[data-save]";
        let id = b
            .find(button)
            .await
            .attr("data-save")
            .await
            .unwrap()
            .unwrap();
        b.click(button).await;
        // A real form post: the page comes back at the card, with a confirmation.
        b.find_text(".flash", "Article saved.").await;
        b.wait_for_path("/news").await;
        assert_eq!(b.fragment().await, Some(format!("article-{id}")));
        wait_for_save_state(&b, button, "true", "Saved").await;
        assert!(
            b.find_all(".flash-close").await.is_empty(),
            "scripts are off"
        );

        b.click("a.nav-link[href='/saved']").await;
        b.wait_for_path("/saved").await;
        assert_eq!(wait_for_card_count(&b, 1).await, vec![titles[2].clone()]);
        b.click(".card button[data-save]").await;
        b.find_text(".flash", "Article removed from your saved articles.")
            .await;
        b.wait_for_path("/saved").await;
        b.find_text(".empty-state h2", "No saved articles yet")
            .await;
        b.goto("/news").await;
        wait_for_save_state(&b, button, "false", "Save").await;
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching_from_the_box_on_a_phone_and_a_desktop() {
    let app = spawn_app().await;
    let mut articles = journey_articles();
    articles.extend((71..=73).map(|n| NewArticle {
        title: format!("Eclipse watch number {n} over Lagos"),
        ..article(n, "ng", "en", "science")
    }));
    app.seed(&articles).await;
    for viewport in Viewport::ALL {
        let b = launch(&app, viewport).await;
        register_with_mouse(&b, &format!("searcher_{}", viewport.name())).await;
        wait_for_card_count(&b, 30).await;
        // The box fits the page, on a phone too.
        let fits = b
            .js(
                "const r = document.querySelector('#q').getBoundingClientRect(); \
                 return r.width >= 120 && r.right <= document.documentElement.clientWidth;",
            )
            .await;
        assert_eq!(fits, true, "{}: the search box fits", viewport.name());

        // Typed and sent with Enter, as people do.
        b.click("#q").await;
        b.type_keys("ECLIPSE lagos").await;
        b.press(&[Key::Enter]).await;
        b.wait_until("search results", || async {
            let h1 = b
                .js("const h = document.querySelector('h1'); return h ? h.textContent.trim() : ''")
                .await;
            (h1 == "Search results").then_some(())
        })
        .await;
        assert!(b
            .js("return location.search")
            .await
            .as_str()
            .unwrap_or("")
            .starts_with("?q="));
        let titles = wait_for_card_count(&b, 3).await;
        assert_eq!(
            titles,
            [73, 72, 71].map(|n| format!("Eclipse watch number {n} over Lagos"))
        );
        let value = b.js("return document.querySelector('#q').value").await;
        assert_eq!(value, "ECLIPSE lagos", "the box keeps what was typed");
        shots(&b, "search").await;

        // Markup and quotes are searched as words and shown back as text.
        b.goto("/news?q=%3Cb%3Ebold%3C%2Fb%3E%20%22unclosed").await;
        let heading = b.text(".empty-state h2").await;
        assert_eq!(heading, "No articles match “<b>bold</b> \"unclosed”");
        assert_eq!(
            b.js("return document.querySelectorAll('h2 b, main b').length")
                .await,
            0
        );
        shots(&b, "search-empty").await;

        // Clear goes back to the whole feed.
        b.click(".search-form a[href='/news']").await;
        b.wait_for_path("/news").await;
        wait_for_card_count(&b, 30).await;
        let errors = b.console_errors().await;
        assert!(errors.is_empty(), "console errors {errors:#?}");
        b.close().await;
    }
}
