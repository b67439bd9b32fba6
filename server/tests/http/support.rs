//! Test harness: a real server per test and a cookie-keeping client that
//! talks to it like a browser (forms to `/fn/*`, pages, `/api/v1`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::header::{ACCEPT, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use app::domain::Ctx;
use server::{Config, Settings};

pub struct TestServer {
    /// Where to connect (`http://127.0.0.1:port`).
    pub base: String,
    /// The server's public URL (`http://localhost:port`): the origin
    /// browsers send, and the WebAuthn relying party (which refuses IPs).
    pub public_url: String,
    /// The database the server uses, for `alumia admin` runs against it.
    pub database_url: String,
    /// The metrics listener (`http://127.0.0.1:port`), when the test
    /// set `metrics_addr`.
    pub metrics: Option<String>,
    pub ctx: Ctx,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    data_dir: PathBuf,
    pg: Option<(String, String)>,
}

/// Which backend this run uses: PostgreSQL when `TEST_DATABASE_URL` is set.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

async fn fresh_postgres(admin_url: &str) -> (String, String) {
    let name = format!("alumia_test_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("database url has a path");
    (format!("{base}/{name}"), name)
}

/// The billing catalogue of test servers: new orgs are on `free`, which
/// grants nothing (so balances are what a test deposits) and has no
/// managed models; `pro` grants 2,000 credits and is sold through Stripe
/// Checkout.
pub const TEST_CATALOGUE: &str = r#"
default_package = "free"

[[packages]]
id = "free"
name = "Free"
monthly_credits = 0
max_agents = 1
max_schedules = 2
max_storage_mb = 100
managed_models = false

[[packages]]
id = "pro"
name = "Pro"
monthly_credits = 2000
max_agents = 25
max_schedules = 100
max_storage_mb = 20480
stripe_price = "price_pro_monthly"

[[credit_packs]]
id = "credits-500"
credits = 500
amount_cents = 500
"#;

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
    start_with_config("", adjust).await
}

/// A server whose config file is the test catalogue followed by `extra`
/// (TOML, e.g. `[[providers]]`).
pub async fn start_with_config(extra: &str, adjust: impl FnOnce(&mut Settings)) -> TestServer {
    let data_dir = std::env::temp_dir().join(format!("alumia-test-{}", Uuid::new_v4().simple()));
    let pg = match postgres_url() {
        Some(admin) => Some(fresh_postgres(&admin).await),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    let catalogue = data_dir.join("billing.toml");
    std::fs::write(&catalogue, format!("{TEST_CATALOGUE}\n{extra}")).unwrap();
    let mut settings = Settings {
        config: Some(catalogue),
        data_dir: Some(data_dir.clone()),
        public_url: Some(format!("http://localhost:{}", addr.port())),
        database_url: pg.as_ref().map(|(url, _)| url.clone()),
        site_root: Some(data_dir.join("site")),
        // No model discovery unless a test points it at a stand-in.
        ollama_url: Some("off".into()),
        ..Default::default()
    };
    adjust(&mut settings);
    let config = Config::resolve(&settings).expect("test config");
    let database_url = config.database_url.clone();
    let built = server::build(&config).await.expect("server builds");
    let ctx = built.ctx.clone();
    let metrics = built.metrics_addr().map(|a| format!("http://{a}"));
    let (tx, rx) = oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(built, listener, async move {
        let _ = rx.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        public_url: config.public_url.clone(),
        database_url,
        metrics,
        ctx,
        shutdown: Some(tx),
        served: Some(served),
        data_dir,
        pg: pg.map(|(_, name)| (postgres_url().unwrap(), name)),
    }
}

impl TestServer {
    /// Sends the shutdown signal, as SIGTERM does; `stopped` awaits the end.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Resolves when `serve` has returned (after its drain).
    pub async fn stopped(&mut self) {
        if let Some(served) = self.served.take() {
            served.await.expect("serve did not panic").expect("serve ended cleanly");
        }
    }

    /// Where the server reads its built assets (`/pkg/…`) from.
    pub fn pkg_dir(&self) -> PathBuf {
        self.data_dir.join("site/pkg")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside any async context we may block: use a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A browser: keeps the session cookie, sends our Origin on mutations.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub origin: String,
    pub cookie: Option<String>,
    http: reqwest::Client,
    /// The passkey `sign_up` registers (the account's second factor).
    pub passkey: Arc<Mutex<SoftPasskey>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }

    pub fn location(&self) -> Option<String> {
        self.headers.get("location").map(|v| v.to_str().unwrap().to_string())
    }

    pub fn h1(&self) -> String {
        let start = self.body.find("<h1").expect("page has an h1");
        let open_end = self.body[start..].find('>').unwrap() + start + 1;
        let close = self.body[open_end..].find("</h1>").unwrap() + open_end;
        // Without Leptos's hydration markers (`<!>`, `<!--…-->`), which
        // `erase_components` places inside text-only elements too.
        let mut text = self.body[open_end..close].replace("<!>", "");
        while let Some(start) = text.find("<!--") {
            let end = text[start..].find("-->").map_or(text.len(), |e| start + e + 3);
            text.replace_range(start..end, "");
        }
        text
    }
}

impl Browser {
    pub fn new(server: &TestServer) -> Browser {
        Browser {
            base: server.base.clone(),
            origin: server.public_url.clone(),
            cookie: None,
            http: reqwest::Client::builder().redirect(redirect::Policy::none()).build().unwrap(),
            passkey: Arc::new(Mutex::new(SoftPasskey::new(true))),
        }
    }

    fn remember(&mut self, res: &reqwest::Response) {
        for value in res.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            if let Some(rest) = text.strip_prefix("alumia_session=") {
                let v = rest.split(';').next().unwrap_or("");
                // An expired cookie (flush) deletes it.
                if v.is_empty() || text.contains("Max-Age=0") {
                    self.cookie = None;
                } else {
                    self.cookie = Some(v.to_string());
                }
            }
        }
    }

    async fn finish(&mut self, res: reqwest::Response) -> Answer {
        self.remember(&res);
        Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => req.header(COOKIE, format!("alumia_session={c}")),
            None => req,
        }
    }

    /// Calls a server function as the dashboard's JavaScript does.
    pub async fn call(&mut self, name: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .http
            .post(format!("{}/fn/{name}", self.base))
            .header(ORIGIN, &self.origin)
            .header(ACCEPT, "application/json")
            .form(form);
        let res = self.with_cookie(req).send().await.unwrap();
        self.finish(res).await
    }

    /// Posts a form as a browser without JavaScript does.
    pub async fn submit(&mut self, name: &str, referer: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .http
            .post(format!("{}/fn/{name}", self.base))
            .header(ORIGIN, &self.origin)
            .header(ACCEPT, "text/html,application/xhtml+xml")
            .header("referer", format!("{}{referer}", self.base))
            .form(form);
        let res = self.with_cookie(req).send().await.unwrap();
        self.finish(res).await
    }

    /// Calls `/api/v1` with this browser's session, as the dashboard's
    /// own scripts would.
    pub async fn api(&mut self, method: reqwest::Method, path: &str, body: Value) -> Answer {
        let req = self.http.request(method, format!("{}{path}", self.base)).header(ORIGIN, &self.origin).json(&body);
        let res = self.with_cookie(req).send().await.unwrap();
        self.finish(res).await
    }

    pub async fn page(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base)).header(ACCEPT, "text/html");
        let res = self.with_cookie(req).send().await.unwrap();
        self.finish(res).await
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        let res = self.with_cookie(req).send().await.unwrap();
        self.finish(res).await
    }

    /// Signs up and registers a passkey, as the dashboard asks before any
    /// sensitive change: the session is stepped up for the next 10 minutes.
    pub async fn sign_up(&mut self, email: &str) -> Answer {
        let a = self.sign_up_without_factor(email).await;
        let added = self.register_passkey("Test passkey", Some(PASSWORD)).await;
        assert_eq!(added.status, StatusCode::OK, "passkey for {email}: {}", added.body);
        a
    }

    pub async fn sign_up_without_factor(&mut self, email: &str) -> Answer {
        let a = self.call("sign_up", &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(a.status, StatusCode::OK, "sign up {email}: {}", a.body);
        a
    }

    /// Registers this browser's passkey; `password` is needed for a first factor.
    pub async fn register_passkey(&mut self, name: &str, password: Option<&str>) -> Answer {
        let start = match password {
            Some(p) => self.call("start_passkey_registration", &[("password", p)]).await,
            None => self.call("start_passkey_registration", &[]).await,
        };
        if start.status != StatusCode::OK {
            return start;
        }
        let options: CreationChallengeResponse = serde_json::from_str(start.json().as_str().unwrap()).unwrap();
        let origin = url::Url::parse(&self.origin).unwrap();
        let credential =
            self.passkey.lock().unwrap().do_registration(origin, options).expect("the soft passkey registers");
        let credential = serde_json::to_string(&credential).unwrap();
        self.call("finish_passkey_registration", &[("name", name), ("credential", &credential)]).await
    }

    /// A passkey step-up of this session.
    pub async fn step_up(&mut self) -> Answer {
        let start = self.call("start_passkey_step_up", &[]).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let options: RequestChallengeResponse = serde_json::from_str(start.json().as_str().unwrap()).unwrap();
        let origin = url::Url::parse(&self.origin).unwrap();
        let credential =
            self.passkey.lock().unwrap().do_authentication(origin, options).expect("the soft passkey signs");
        self.call("finish_passkey_step_up", &[("credential", &serde_json::to_string(&credential).unwrap())]).await
    }

    pub async fn create_org(&mut self, slug: &str) -> Answer {
        let a = self.call("create_org", &[("name", &format!("Org {slug}")), ("slug", slug)]).await;
        assert_eq!(a.status, StatusCode::OK, "create org {slug}: {}", a.body);
        a
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// A unique email per call, so tests never share accounts.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", &Uuid::new_v4().simple().to_string()[..8])
}

pub fn slug(tag: &str) -> String {
    format!("{tag}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

/// How many audit rows with `action` exist (optionally for one org).
pub async fn audit_count(server: &TestServer, action: &str) -> i64 {
    app::on_db!(&server.ctx.db, |p| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(p)
        .await)
    .unwrap()
}

/// An API client: `Authorization: Bearer <key>`, no cookies.
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(server: &TestServer, key: Option<&str>) -> Api {
        Api { base: server.base.clone(), key: key.map(str::to_string), http: reqwest::Client::new() }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }
}

/// The `data` of a successful envelope.
pub fn data(a: &Answer) -> Value {
    let v = a.json();
    assert_eq!(v["success"], true, "expected success ({}): {}", a.status, a.body);
    v["data"].clone()
}

/// The error code of a failed envelope, checking status and shape.
pub fn error_code(a: &Answer) -> String {
    let v = a.json();
    assert_eq!(v["success"], false, "expected an error envelope: {}", a.body);
    v["error"]["code"].as_str().unwrap().to_string()
}

/// A signed-in owner of a fresh org, and a key minted in their browser.
pub async fn owner_with_key(server: &TestServer, scopes: &[&str]) -> (Browser, String, String) {
    let mut b = Browser::new(server);
    b.sign_up(&email("owner")).await;
    let org = slug("org");
    b.create_org(&org).await;
    let mut form = vec![("org", org.as_str()), ("name", "test key")];
    if scopes.contains(&"terminal") {
        form.push(("terminal", "on"));
    }
    if scopes.contains(&"billing:machine:charge") {
        form.push(("billing", "on"));
    }
    let minted = b.call("mint_api_key", &form).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.body);
    let secret = minted.json()["secret"].as_str().unwrap().to_string();
    (b, org, secret)
}

/// A stand-in Ollama on loopback answering `GET /api/tags` with `models`
/// (Ollama's shape: `[{"name": …}, …]`); answers its base URL.
pub async fn fake_ollama(models: Value) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/api/tags", get(move || async move { axum::Json(serde_json::json!({ "models": models })) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
