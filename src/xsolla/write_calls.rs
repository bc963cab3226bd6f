//! The calls that move money: full and partial refunds and a sandbox chargeback. The nightly
//! job only reads; these exist for the sandbox's tests, so they are built only with the
//! `sandbox` feature and stay out of the production binary.

use super::client::{json_bytes, XsollaClient};
use super::error::XsollaError;
use super::http::Reply;
use rust_decimal::Decimal;

impl XsollaClient {
    /// Requests a full refund (§8.1). Xsolla completes it asynchronously; the negative
    /// registry row appears later.
    pub async fn refund(
        &self,
        transaction_id: i64,
        description: &str,
        email: Option<&str>,
    ) -> Result<Reply, XsollaError> {
        let mut body = serde_json::Map::new();
        body.insert("description".into(), description.into());
        if let Some(e) = email {
            body.insert("email".into(), e.into());
        }
        let path = self.path(&format!("reports/transactions/{transaction_id}/refund"));
        self.transport
            .send_json(reqwest::Method::PUT, &path, Some(json_bytes(body)))
            .await
    }

    /// Requests a partial refund of `amount` in the purchase currency (§8.2).
    pub async fn partial_refund(
        &self,
        transaction_id: i64,
        amount: Decimal,
        description: &str,
    ) -> Result<Reply, XsollaError> {
        let mut body = serde_json::Map::new();
        body.insert("description".into(), description.into());
        // The exact decimal text as a JSON number (arbitrary_precision keeps it verbatim).
        let n: serde_json::Number = amount
            .normalize()
            .to_string()
            .parse()
            .expect("a Decimal's text is a valid JSON number");
        body.insert("refund_amount".into(), serde_json::Value::Number(n));
        let path = self.path(&format!(
            "reports/transactions/{transaction_id}/partial_refund"
        ));
        self.transport
            .send_json(reqwest::Method::PUT, &path, Some(json_bytes(body)))
            .await
    }

    /// Simulates a chargeback of a sandbox-mode payment (§8.3); the body must be empty.
    pub async fn chargeback(
        &self,
        project_id: i64,
        transaction_id: i64,
    ) -> Result<Reply, XsollaError> {
        let path = self.path(&format!(
            "projects/{project_id}/payments/{transaction_id}/chargeback"
        ));
        self.transport
            .send_json(reqwest::Method::POST, &path, None)
            .await
    }
}
