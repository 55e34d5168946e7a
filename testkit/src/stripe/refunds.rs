//! Refunds and disputes (<https://docs.stripe.com/refunds>, <https://docs.stripe.com/disputes>).
//!
//! `POST /v1/refunds` refunds the successful charge of a PaymentIntent (`payment_intent`)
//! or a charge (`charge`): by default the whole unrefunded amount, or `amount`. A refund is
//! `succeeded` at once (the charge's `amount_refunded` grows; `refunded` once it is all
//! refunded; events `refund.created`, `charge.refunded`), or, as
//! [`super::FakeStripe::refunds_settle`] says, `pending` until
//! [`super::FakeStripe::settle_refunds`], then `succeeded` or `failed`
//! (`failure_reason: "expired_or_canceled_card"`; the charge keeps its money).
//!
//! Refusals (400 `invalid_request_error`, not saved under the idempotency key): neither
//! parameter (`parameter_missing`), an unknown object (`resource_missing`), an intent
//! without a successful charge (`charge_not_refundable`), a charge refunded already
//! (`charge_already_refunded`), a disputed charge (`charge_disputed`), more than what is
//! left (`amount_too_large`).

use serde_json::{json, Value};

use super::{new_id, unix_now, Answer, Params, RefundOutcome, State};

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// `POST /v1/refunds`.
pub(super) fn create(state: &mut State, params: &Params) -> Answer {
    if let Some(unknown) =
        params.unknown(&["payment_intent", "charge", "metadata", "amount", "reason"])
    {
        return unknown;
    }
    let index = if let Some(charge_id) = params.get("charge") {
        match state.charges.iter().position(|c| c["id"] == charge_id) {
            Some(index) => index,
            None => {
                return Answer::invalid(
                    &format!("No such charge: '{charge_id}'"),
                    Some("resource_missing"),
                    Some("charge"),
                )
            }
        }
    } else if let Some(intent_id) = params.get("payment_intent") {
        if !state.intents.contains_key(intent_id) {
            return Answer::invalid(
                &format!("No such payment_intent: '{intent_id}'"),
                Some("resource_missing"),
                Some("payment_intent"),
            );
        }
        match state
            .charges
            .iter()
            .position(|c| c["payment_intent"] == intent_id)
        {
            Some(index) => index,
            None => {
                return Answer::invalid(
                    &format!(
                    "This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                ),
                    Some("charge_not_refundable"),
                    Some("payment_intent"),
                )
            }
        }
    } else {
        return Answer::invalid(
            "One of the following params should be provided for this request: payment_intent or charge.",
            Some("parameter_missing"),
            None,
        );
    };
    if let Some(reason) = params.get("reason") {
        if !["duplicate", "fraudulent", "requested_by_customer"].contains(&reason) {
            return Answer::invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                None,
                Some("reason"),
            );
        }
    }

    let charge = &state.charges[index];
    let charge_id = charge["id"].as_str().unwrap_or_default().to_owned();
    if charge["disputed"] == true {
        return Answer::invalid(
            &format!("Charge {charge_id} has been charged back; cannot issue a refund."),
            Some("charge_disputed"),
            None,
        );
    }
    if charge["refunded"] == true {
        return Answer::invalid(
            &format!("Charge {charge_id} has already been refunded."),
            Some("charge_already_refunded"),
            None,
        );
    }
    let charged = charge["amount"].as_i64().unwrap_or_default();
    // What is left: neither refunded nor promised to a pending refund.
    let pending: i64 = state
        .refunds
        .iter()
        .filter(|r| r["charge"] == charge_id.as_str() && r["status"] == "pending")
        .filter_map(|r| r["amount"].as_i64())
        .sum();
    let left = charged - charge["amount_refunded"].as_i64().unwrap_or_default() - pending;
    let amount = match params.get("amount").map(str::parse::<i64>) {
        None => left,
        Some(Ok(amount)) if amount > 0 => amount,
        Some(_) => {
            return Answer::invalid(
                "Invalid positive integer",
                Some("parameter_invalid_integer"),
                Some("amount"),
            )
        }
    };
    if amount > left || left <= 0 {
        return Answer::invalid(
            &format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                dollars(amount),
                dollars(left.max(0))
            ),
            Some("amount_too_large"),
            Some("amount"),
        );
    }

    let outcome = state.refund_outcome;
    let mut refund = json!({
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "charge": charge_id,
        "payment_intent": charge["payment_intent"],
        "currency": charge["currency"],
        "metadata": params.metadata(),
        "reason": params.get("reason"),
        "status": "pending",
        "failure_reason": null,
        "created": unix_now(),
    });
    if outcome == RefundOutcome::Succeed {
        refund["status"] = json!("succeeded");
        state.refunds.push(refund.clone());
        state.emit("refund.created", &refund);
        let charge = refund_charge(state, index, amount);
        state.emit("charge.refunded", &charge);
    } else {
        let id = refund["id"].as_str().unwrap_or_default().to_owned();
        state
            .pending_refunds
            .push((id, outcome == RefundOutcome::PendingThenSucceed));
        state.refunds.push(refund.clone());
        state.emit("refund.created", &refund);
    }
    Answer::ok(refund)
}

/// Moves `amount` of the charge at `index` to refunded; returns the charge now.
fn refund_charge(state: &mut State, index: usize, amount: i64) -> Value {
    let charge = &mut state.charges[index];
    let refunded = charge["amount_refunded"].as_i64().unwrap_or_default() + amount;
    charge["amount_refunded"] = json!(refunded);
    charge["refunded"] = json!(refunded >= charge["amount"].as_i64().unwrap_or_default());
    charge.clone()
}

/// Settles every pending refund; returns them as they are now.
pub(super) fn settle(state: &mut State) -> Vec<Value> {
    let pending = std::mem::take(&mut state.pending_refunds);
    let mut settled = Vec::new();
    for (id, succeeds) in pending {
        let Some(at) = state.refunds.iter().position(|r| r["id"] == id.as_str()) else {
            continue;
        };
        if succeeds {
            state.refunds[at]["status"] = json!("succeeded");
            let refund = state.refunds[at].clone();
            state.emit("refund.updated", &refund);
            let amount = refund["amount"].as_i64().unwrap_or_default();
            if let Some(index) = state
                .charges
                .iter()
                .position(|c| c["id"] == refund["charge"])
            {
                let charge = refund_charge(state, index, amount);
                state.emit("charge.refunded", &charge);
            }
            settled.push(refund);
        } else {
            state.refunds[at]["status"] = json!("failed");
            state.refunds[at]["failure_reason"] = json!("expired_or_canceled_card");
            let refund = state.refunds[at].clone();
            state.emit("refund.updated", &refund);
            state.emit("refund.failed", &refund);
            settled.push(refund);
        }
    }
    settled
}

/// The buyer disputes the successful charge of an intent, or a charge.
pub(super) fn dispute(state: &mut State, intent_or_charge_id: &str) -> Option<Value> {
    let index = state.charges.iter().position(|c| {
        c["id"] == intent_or_charge_id || c["payment_intent"] == intent_or_charge_id
    })?;
    state.charges[index]["disputed"] = json!(true);
    let charge = &state.charges[index];
    let dispute = json!({
        "id": new_id("dp"),
        "object": "dispute",
        "charge": charge["id"],
        "payment_intent": charge["payment_intent"],
        "amount": charge["amount"],
        "currency": charge["currency"],
        "status": "needs_response",
        "reason": "fraudulent",
        "created": unix_now(),
        "livemode": false,
    });
    state.disputes.push(dispute.clone());
    state.emit("charge.dispute.created", &dispute);
    Some(dispute)
}
