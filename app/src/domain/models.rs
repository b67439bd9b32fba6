//! Model providers and the catalogue of models an org may run (SPEC §9).
//!
//! Operator providers come from `[[providers]]` in the config file and are
//! managed: metered in credits at the prices written there. With none
//! configured, an Ollama server at `ALUMIA_OLLAMA_URL` is discovered and
//! its models are offered at 0 credits. An org's own providers (BYOK,
//! `byok`) join its catalogue at 0 credits.
//!
//! Prices are kept as integer milli-credits per million tokens, so a
//! charge is exact integer arithmetic: a charge in micro-credits is
//! `tokens × credits_per_mtok`, rounded up.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::domain::billing::plans;
use crate::domain::paging::PageRequest;
use crate::domain::{Actor, Ctx, DomainResult};
use crate::model::{ModelView, OrgSummary, Page};

/// The scope `GET /api/v1/models` enforces.
pub use crate::domain::api_keys::SCOPE_MODELS_READ;

/// Which wire protocol a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ProviderKind {
    /// Any OpenAI-compatible `/chat/completions` (OpenAI, OpenRouter,
    /// vLLM, LiteLLM, Ollama's `/v1`).
    #[serde(rename = "openai")]
    OpenAi,
    /// The Anthropic Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
}

/// A price in credits per million tokens, as milli-credits (`200.5` →
/// `200_500`). At most three decimals; never negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Price(pub u64);

impl Price {
    pub fn from_credits(credits: f64) -> Result<Price, String> {
        if !credits.is_finite() || credits < 0.0 {
            return Err(format!("a price must be a number of credits of at least 0, not {credits}"));
        }
        let millis = (credits * 1000.0).round();
        if (credits * 1000.0 - millis).abs() > 1e-6 || millis > 1e15 {
            return Err(format!("a price has at most three decimals and stays below 10^12 credits: {credits}"));
        }
        Ok(Price(millis as u64))
    }

    /// `"200.5"`: the credits it stands for, without trailing zeros.
    pub fn credits_text(self) -> String {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return whole.to_string();
        }
        format!("{whole}.{frac:03}").trim_end_matches('0').to_string()
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Price, D::Error> {
        Price::from_credits(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `[[providers.models]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub id: String,
    pub name: Option<String>,
    pub context_window: Option<u64>,
    #[serde(default)]
    pub input_credits_per_mtok: Price,
    #[serde(default)]
    pub output_credits_per_mtok: Price,
    /// A model id of the same provider that fast mode runs instead.
    pub fast_sibling: Option<String>,
}

/// `[[providers]]` in the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// The environment variable holding the key; never the key itself.
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// A provider's API key. `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(pub String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// A model as the runtime uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The provider's own name for it (`gpt-4.1`).
    pub id: String,
    pub name: String,
    pub context_window: Option<u64>,
    pub input_price: Price,
    pub output_price: Price,
    pub fast_sibling: Option<String>,
}

impl Model {
    /// Micro-credits for a call with this usage, rounded up.
    pub fn charge_microunits(&self, input_tokens: u64, output_tokens: u64) -> i64 {
        let millis = u128::from(input_tokens) * u128::from(self.input_price.0)
            + u128::from(output_tokens) * u128::from(self.output_price.0);
        i64::try_from(millis.div_ceil(1000)).unwrap_or(i64::MAX)
    }

    /// Whether no call to it can cost anything.
    pub fn is_free(&self) -> bool {
        self.input_price.0 == 0 && self.output_price.0 == 0
    }
}

/// A provider with its models.
#[derive(Clone, Debug)]
pub struct Provider {
    pub id: String,
    pub kind: ProviderKind,
    /// Without a trailing slash (`https://api.openai.com/v1`).
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Metered in credits (operator providers); Ollama's discovered
    /// models are free, BYOK ones cost 0 credits.
    pub managed: bool,
    pub byok: bool,
    pub models: Vec<Model>,
}

impl Provider {
    fn view(&self, model: &Model) -> ModelView {
        ModelView {
            id: format!("{}/{}", self.id, model.id),
            name: model.name.clone(),
            provider: self.id.clone(),
            byok: self.byok,
            context_window: model.context_window,
            input_credits_per_mtok: model.input_price.credits_text(),
            output_credits_per_mtok: model.output_price.credits_text(),
            fast_sibling: model.fast_sibling.as_ref().map(|s| format!("{}/{s}", self.id)),
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks `[[providers]]` and reads each key from its variable through
/// `env` (the process environment in production).
pub fn operator_providers(
    configs: &[ProviderConfig],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Provider>, String> {
    let mut providers: Vec<Provider> = Vec::new();
    for config in configs {
        let id = &config.id;
        if !valid_id(id) {
            return Err(format!("provider id {id:?}: use lowercase letters, digits and dashes"));
        }
        if providers.iter().any(|p| &p.id == id) {
            return Err(format!("provider {id:?} is configured twice"));
        }
        if id == OLLAMA {
            return Err(format!("provider id {id:?} is reserved for the discovered Ollama server"));
        }
        let base_url = config.base_url.trim().trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!("provider {id:?}: base_url must start with http:// or https://"));
        }
        let api_key = match &config.api_key_env {
            Some(var) => Some(ApiKey(
                env(var)
                    .filter(|k| !k.trim().is_empty())
                    .ok_or_else(|| format!("provider {id:?}: {var} is not set"))?,
            )),
            None => None,
        };
        let mut models: Vec<Model> = Vec::new();
        for m in &config.models {
            if m.id.trim().is_empty() || m.id.contains(char::is_whitespace) {
                return Err(format!("provider {id:?}: a model id must be a name without spaces, not {:?}", m.id));
            }
            if models.iter().any(|x| x.id == m.id) {
                return Err(format!("provider {id:?}: model {:?} is listed twice", m.id));
            }
            models.push(Model {
                id: m.id.clone(),
                name: m.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| m.id.clone()),
                context_window: m.context_window,
                input_price: m.input_credits_per_mtok,
                output_price: m.output_credits_per_mtok,
                fast_sibling: m.fast_sibling.clone(),
            });
        }
        for m in &models {
            if let Some(sibling) = &m.fast_sibling {
                if sibling == &m.id || !models.iter().any(|x| &x.id == sibling) {
                    return Err(format!(
                        "provider {id:?}: fast_sibling {sibling:?} of {:?} must be another model of the same provider",
                        m.id
                    ));
                }
            }
        }
        providers.push(Provider {
            id: id.clone(),
            kind: config.kind,
            base_url,
            api_key,
            managed: true,
            byok: false,
            models,
        });
    }
    Ok(providers)
}

/// The provider id of the discovered Ollama server.
pub const OLLAMA: &str = "ollama";

/// The operator's models: configured providers, or else what the Ollama
/// server offers right now. `Ctx::models`.
#[derive(Debug, Default)]
pub struct Catalogue {
    configured: Vec<Provider>,
    /// `http://127.0.0.1:11434` when discovery is on (no `[[providers]]`
    /// and `ALUMIA_OLLAMA_URL` not `off`).
    ollama_url: Option<String>,
    /// The last models Ollama listed; empty when it did not answer.
    ollama: RwLock<Option<Provider>>,
}

impl Catalogue {
    pub fn new(configured: Vec<Provider>, ollama_url: Option<String>) -> Catalogue {
        let ollama_url =
            ollama_url.filter(|_| configured.is_empty()).map(|u| u.trim().trim_end_matches('/').to_string());
        Catalogue { configured, ollama_url, ollama: RwLock::new(None) }
    }

    pub fn ollama_url(&self) -> Option<&str> {
        self.ollama_url.as_deref()
    }

    /// Every operator provider now (a snapshot).
    pub fn operator(&self) -> Vec<Provider> {
        let mut all = self.configured.clone();
        if let Some(ollama) = self.ollama.read().unwrap_or_else(|p| p.into_inner()).clone() {
            all.push(ollama);
        }
        all
    }

    /// Asks Ollama for its models (`GET /api/tags`) and keeps the answer;
    /// a server that does not answer offers none. Answers how many.
    pub async fn refresh_ollama(&self, http: &reqwest::Client) -> usize {
        let Some(url) = &self.ollama_url else { return 0 };
        let models = match list_ollama_models(http, url).await {
            Ok(models) => models,
            Err(e) => {
                tracing::debug!(url = %url, error = %e, "no Ollama server answered");
                Vec::new()
            }
        };
        let count = models.len();
        let provider = (!models.is_empty()).then(|| Provider {
            id: OLLAMA.to_string(),
            kind: ProviderKind::OpenAi,
            // Ollama's OpenAI-compatible endpoint.
            base_url: format!("{url}/v1"),
            api_key: None,
            managed: false,
            byok: false,
            models,
        });
        *self.ollama.write().unwrap_or_else(|p| p.into_inner()) = provider;
        count
    }
}

#[derive(Deserialize)]
struct OllamaTags {
    #[serde(default)]
    models: Vec<OllamaModel>,
}

#[derive(Deserialize)]
struct OllamaModel {
    name: String,
}

async fn list_ollama_models(http: &reqwest::Client, url: &str) -> Result<Vec<Model>, reqwest::Error> {
    let tags: OllamaTags = http
        .get(format!("{url}/api/tags"))
        .timeout(Duration::from_secs(3))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut models: Vec<Model> = tags
        .models
        .into_iter()
        .filter(|m| !m.name.trim().is_empty())
        .map(|m| Model {
            id: m.name.clone(),
            name: m.name,
            context_window: None,
            input_price: Price(0),
            output_price: Price(0),
            fast_sibling: None,
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models.dedup_by(|a, b| a.id == b.id);
    Ok(models)
}

/// Keeps the Ollama catalogue fresh after the first look: models pulled
/// or removed show up within a minute. Runs only when discovery is on.
pub fn spawn_ollama_discovery(catalogue: Arc<Catalogue>) {
    if catalogue.ollama_url.is_none() {
        return;
    }
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            catalogue.refresh_ollama(&http).await;
        }
    });
}

/// The models `org` may run: the operator's, without the managed ones
/// when its package does not include managed models; in provider order,
/// then as configured (or by name, for Ollama).
pub async fn list(ctx: &Ctx, actor: &Actor, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<ModelView>> {
    actor.require_scope(SCOPE_MODELS_READ)?;
    Ok(page.slice(available(ctx, org).await?))
}

/// The whole catalogue of `org`, without a scope check: what an agent's
/// `model` must name.
pub async fn available(ctx: &Ctx, org: &OrgSummary) -> DomainResult<Vec<ModelView>> {
    let mut items = Vec::new();
    for provider in providers_for(ctx, org.id).await? {
        items.extend(provider.models.iter().map(|m| provider.view(m)));
    }
    Ok(items)
}

/// Every provider `org_id` may run models of, keys included: the
/// operator's (the managed ones only when its package includes managed
/// models), then the org's own (when its package allows BYOK; on an
/// unmetered server always).
pub async fn providers_for(ctx: &Ctx, org_id: uuid::Uuid) -> DomainResult<Vec<Provider>> {
    let package = plans::package_of(ctx, org_id).await?;
    let metered = ctx.billing.metered;
    let mut out: Vec<Provider> =
        ctx.models.operator().into_iter().filter(|p| !p.managed || package.managed_models || !metered).collect();
    if package.byok || !metered {
        out.extend(crate::domain::byok::providers(ctx, org_id).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same fields as the TOML file, written as JSON (the server's
    /// tests read real TOML).
    fn config(json: &str) -> Vec<ProviderConfig> {
        #[derive(Deserialize)]
        struct File {
            providers: Vec<ProviderConfig>,
        }
        serde_json::from_str::<File>(json).unwrap().providers
    }

    const TWO_MODELS: &str = r#"{"providers": [{
        "id": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1/", "api_key_env": "OPENAI_KEY",
        "models": [
            {"id": "gpt-4.1", "name": "GPT-4.1", "context_window": 1047576,
             "input_credits_per_mtok": 200, "output_credits_per_mtok": 800.125, "fast_sibling": "gpt-4.1-mini"},
            {"id": "gpt-4.1-mini", "input_credits_per_mtok": 0.4, "output_credits_per_mtok": 1.6}
        ]}]}"#;

    #[test]
    fn providers_are_read_with_their_prices_and_keys() {
        let providers =
            operator_providers(&config(TWO_MODELS), |v| (v == "OPENAI_KEY").then(|| "sk-1".into())).unwrap();
        let p = &providers[0];
        assert_eq!(p.base_url, "https://api.openai.com/v1");
        assert_eq!(p.api_key.as_ref().unwrap().0, "sk-1");
        assert!(!format!("{p:?}").contains("sk-1"), "the key never shows in Debug");
        assert_eq!(p.models[0].output_price, Price(800_125));
        assert_eq!(p.models[1].name, "gpt-4.1-mini", "the id when there is no name");
        let view = p.view(&p.models[0]);
        assert_eq!(view.id, "openai/gpt-4.1");
        assert_eq!(view.fast_sibling.as_deref(), Some("openai/gpt-4.1-mini"));
        assert_eq!(view.output_credits_per_mtok, "800.125");
        assert_eq!(p.view(&p.models[1]).input_credits_per_mtok, "0.4");
    }

    #[test]
    fn bad_provider_configs_are_refused_with_a_reason() {
        let missing_key = operator_providers(&config(TWO_MODELS), |_| None).unwrap_err();
        assert!(missing_key.contains("OPENAI_KEY is not set"), "{missing_key}");
        let bad_sibling = TWO_MODELS.replace(r#""fast_sibling": "gpt-4.1-mini""#, r#""fast_sibling": "gpt-5""#);
        let err = operator_providers(&config(&bad_sibling), |_| Some("k".into())).unwrap_err();
        assert!(err.contains("fast_sibling \"gpt-5\""), "{err}");
        let bad_id = TWO_MODELS.replace(r#""id": "openai""#, r#""id": "Open AI""#);
        assert!(operator_providers(&config(&bad_id), |_| Some("k".into())).is_err());
        let reserved = TWO_MODELS.replace(r#""id": "openai""#, r#""id": "ollama""#);
        assert!(operator_providers(&config(&reserved), |_| Some("k".into())).unwrap_err().contains("reserved"));
        assert!(Price::from_credits(-1.0).is_err());
        assert!(Price::from_credits(0.0001).is_err(), "four decimals");
        assert_eq!(Price::from_credits(0.15), Ok(Price(150)));
    }

    #[test]
    fn a_charge_is_tokens_times_price_rounded_up() {
        let model = Model {
            id: "m".into(),
            name: "m".into(),
            context_window: None,
            input_price: Price(200_000),  // 200 credits per Mtok
            output_price: Price(800_000), // 800
            fast_sibling: None,
        };
        // 1,000 input tokens at 200 credits/Mtok = 0.2 credits = 200,000 µ.
        assert_eq!(model.charge_microunits(1_000, 0), 200_000);
        assert_eq!(model.charge_microunits(1_000, 500), 200_000 + 400_000);
        let cheap = Model { input_price: Price(1), output_price: Price(0), ..model };
        // 1 token at 0.001 credits/Mtok = 0.001 µ: rounded up to 1.
        assert_eq!(cheap.charge_microunits(1, 0), 1);
        assert_eq!(cheap.charge_microunits(0, 0), 0);
    }
}
