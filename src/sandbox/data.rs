//! The sandbox's merchant: deterministic generated payments, refunds, payouts and reports.
//!
//! Everything derives from the seed and the dates: each day has its own `ChaCha8Rng` seeded
//! from (seed, absolute day number), so a day's payments do not depend on the window around
//! it. Transactions are stored compactly (ids, indices into static tables, a price point) and
//! every money field is recomputed on demand, which keeps 1M rows within tens of megabytes.
//!
//! # Money formula (exact, `Decimal`; `round_c` = round half away from zero to the payment
//! currency's exponent, `round_p` = the same for the payout currency, USD)
//!
//! ```text
//! N   = price point (nominal, what the item costs)        purchase.*.amount
//! U   = round_c(N × method.user_percent / 100)            commission_user.amount
//! VAT = round_c((N + U) × country.vat / 100)              vat.amount = vat.user_amount (EU, GB)
//! ST  = round_c((N + U) × country.sales_tax / 100)        sales_tax.amount (US)
//! P   = N + U + VAT + ST                                  payment.amount = payment.amount_from_ps
//! PS  = round_c(N × method.ps_percent / 100) + ps_fixed   commission_ps.amount (fixed_amount = ps_fixed)
//! X   = round_c(N × 5 / 100) + xsolla_fixed               commission_xsolla.amount
//! net = P − U − VAT − ST − PS − X
//! payout = round_p(net × fx_rate)                         payout.amount = payout.amount_from_ps
//! ```
//! Agent, WHT and repatriation fees are 0; so is CPA, but with the `cpa_commissions` quirk
//! every fourth transaction (id divisible by 4) pays `CPA = round_c(N × 2 / 100)` to a CPA
//! network (`cpa_network_commission.amount`), and `net` is that much less. `fx_rate` is USD per unit of the payment
//! currency on the payment's creation day, 10 decimals.
//!
//! A refund or chargeback is a separate NEGATIVE row: the full mirror of the payment, or for a
//! partial refund of `R` every component `c` becomes `round_c(c × R / P)` with `payment = R`,
//! `net` recomputed from the rounded parts and `payout = round_p(net × fx_rate)`; then all money
//! fields are negated. Penalties (`refundPenalty`, `chargebackPenalty`) are in the payment
//! currency, negative, only on negative rows, and NOT inside `payout.amount` (so a full refund
//! row is the exact mirror of its payment and a payout is exactly the sum of its rows).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use crate::domain::money::round_to_currency;

/// A payment currency and the merchant's price list in it.
pub(crate) struct Currency {
    pub code: &'static str,
    pub exp: u32,
    /// USD per unit, as `Decimal::new(mantissa, scale)`.
    base_rate: (i64, u32),
    /// Price points in minor units.
    prices: &'static [i64],
    ps_fixed: i64,
    xsolla_fixed: i64,
    refund_penalty: i64,
    chargeback_penalty: i64,
}

impl Currency {
    /// Penalty of a refund that carries one, in this currency.
    fn refund_penalty(&self) -> Decimal {
        Decimal::new(self.refund_penalty, self.exp)
    }
    /// Penalty of every chargeback, in this currency.
    fn chargeback_penalty(&self) -> Decimal {
        Decimal::new(self.chargeback_penalty, self.exp)
    }
}

/// Index of the payout currency (USD) in [`CURRENCIES`].
pub(crate) const PAYOUT: usize = 0;

pub(crate) const CURRENCIES: &[Currency] = &[
    Currency {
        code: "USD",
        exp: 2,
        base_rate: (1, 0),
        prices: &[99, 499, 999, 1999, 4999, 9999],
        ps_fixed: 30,
        xsolla_fixed: 5,
        refund_penalty: 100,
        chargeback_penalty: 1500,
    },
    Currency {
        code: "EUR",
        exp: 2,
        base_rate: (10_850_000_000, 10),
        prices: &[99, 499, 999, 1999, 4999, 9999],
        ps_fixed: 25,
        xsolla_fixed: 5,
        refund_penalty: 100,
        chargeback_penalty: 1500,
    },
    Currency {
        code: "GBP",
        exp: 2,
        base_rate: (12_700_000_000, 10),
        prices: &[79, 399, 799, 1599, 3999, 7999],
        ps_fixed: 20,
        xsolla_fixed: 4,
        refund_penalty: 80,
        chargeback_penalty: 1200,
    },
    Currency {
        code: "JPY",
        exp: 0,
        base_rate: (66_500_000, 10),
        prices: &[120, 610, 1220, 2440, 6100, 12200],
        ps_fixed: 40,
        xsolla_fixed: 7,
        refund_penalty: 150,
        chargeback_penalty: 2200,
    },
    Currency {
        code: "BRL",
        exp: 2,
        base_rate: (1_790_000_000, 10),
        prices: &[490, 2490, 4990, 9990, 24990, 49990],
        ps_fixed: 150,
        xsolla_fixed: 25,
        refund_penalty: 500,
        chargeback_penalty: 7500,
    },
    Currency {
        code: "KWD",
        exp: 3,
        base_rate: (32_500_000_000, 10),
        prices: &[300, 1500, 3000, 6000, 15000, 30000],
        ps_fixed: 90,
        xsolla_fixed: 15,
        refund_penalty: 300,
        chargeback_penalty: 4500,
    },
];

/// A user country: its currency and taxes.
pub(crate) struct Country {
    pub code: &'static str,
    pub currency: usize,
    /// VAT %, as (mantissa, scale).
    vat: (i64, u32),
    /// US sales tax %, as (mantissa, scale).
    sales_tax: (i64, u32),
    weight: u64,
}

pub(crate) const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        currency: 0,
        vat: (0, 0),
        sales_tax: (725, 2),
        weight: 35,
    },
    Country {
        code: "DE",
        currency: 1,
        vat: (19, 0),
        sales_tax: (0, 0),
        weight: 12,
    },
    Country {
        code: "FR",
        currency: 1,
        vat: (20, 0),
        sales_tax: (0, 0),
        weight: 8,
    },
    Country {
        code: "GB",
        currency: 2,
        vat: (20, 0),
        sales_tax: (0, 0),
        weight: 10,
    },
    Country {
        code: "JP",
        currency: 3,
        vat: (0, 0),
        sales_tax: (0, 0),
        weight: 15,
    },
    Country {
        code: "BR",
        currency: 4,
        vat: (0, 0),
        sales_tax: (0, 0),
        weight: 12,
    },
    Country {
        code: "KW",
        currency: 5,
        vat: (0, 0),
        sales_tax: (0, 0),
        weight: 8,
    },
];

/// What a project sells; decides which `purchase.*` object carries the amount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PurchaseKind {
    VirtualCurrency,
    VirtualItems,
    SimpleCheckout,
}

pub(crate) struct Project {
    pub id: i64,
    pub name: &'static str,
    pub kind: PurchaseKind,
    /// Prefix of the game's order ids (`external_id`).
    pub prefix: &'static str,
    weight: u32,
}

pub(crate) const PROJECTS: &[Project] = &[
    Project {
        id: 277_001,
        name: "Starfall Odyssey",
        kind: PurchaseKind::VirtualCurrency,
        prefix: "sfo",
        weight: 50,
    },
    Project {
        id: 277_002,
        name: "Dungeon Tactics",
        kind: PurchaseKind::VirtualItems,
        prefix: "dtx",
        weight: 30,
    },
    Project {
        id: 277_003,
        name: "Pixel Kart",
        kind: PurchaseKind::SimpleCheckout,
        prefix: "pxk",
        weight: 20,
    },
];

pub(crate) struct Method {
    pub id: i64,
    pub name: &'static str,
    /// Payment-system fee %, (mantissa, scale).
    ps_percent: (i64, u32),
    /// Fee the user pays on top, %.
    user_percent: (i64, u32),
    /// The CSV-only "Payment system type" column.
    pub kind: &'static str,
    weight: u32,
}

pub(crate) const METHODS: &[Method] = &[
    Method {
        id: 24,
        name: "PayPal",
        ps_percent: (34, 1),
        user_percent: (0, 0),
        kind: "e-wallet",
        weight: 25,
    },
    Method {
        id: 1380,
        name: "Visa",
        ps_percent: (25, 1),
        user_percent: (0, 0),
        kind: "bank card",
        weight: 30,
    },
    Method {
        id: 1381,
        name: "Mastercard",
        ps_percent: (25, 1),
        user_percent: (0, 0),
        kind: "bank card",
        weight: 20,
    },
    Method {
        id: 3431,
        name: "Google Pay",
        ps_percent: (29, 1),
        user_percent: (0, 0),
        kind: "e-wallet",
        weight: 15,
    },
    Method {
        id: 2820,
        name: "Mobile carrier billing",
        ps_percent: (15, 0),
        user_percent: (5, 0),
        kind: "mobile",
        weight: 10,
    },
];

/// Xsolla's revenue share, %.
pub(crate) const XSOLLA_PERCENT: Decimal = Decimal::from_parts(5, 0, 0, false, 0);

pub(crate) fn method_ps_percent(m: &Method) -> Decimal {
    dec(m.ps_percent)
}
pub(crate) fn method_user_percent(m: &Method) -> Decimal {
    dec(m.user_percent)
}
pub(crate) fn country_vat(c: &Country) -> Decimal {
    dec(c.vat)
}
pub(crate) fn country_sales_tax(c: &Country) -> Decimal {
    dec(c.sales_tax)
}

/// Current status of a transaction (docs/xsolla-api.md §6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Status {
    Created,
    Error,
    Canceled,
    Done,
    Refunded,
    PartiallyRefunded,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Error => "error",
            Status::Canceled => "canceled",
            Status::Done => "done",
            Status::Refunded => "refunded",
            Status::PartiallyRefunded => "partiallyRefunded",
        }
    }
    /// Whether the payment completed at some point (and so has registry rows).
    pub(crate) fn completed(self) -> bool {
        matches!(
            self,
            Status::Done | Status::Refunded | Status::PartiallyRefunded
        )
    }
}

/// One payment attempt, compact (about 40 bytes).
#[derive(Clone, Debug)]
pub(crate) struct Txn {
    pub id: i64,
    /// Creation time, Unix seconds (naive, no zone: [U] in docs/xsolla-api.md).
    pub created: i64,
    /// Seconds from creation to completion; the positive row's `transfer_date`.
    pub done_after: u16,
    pub user: u32,
    pub price: u8,
    pub project: u8,
    pub method: u8,
    pub status: Status,
    pub dry_run: bool,
    pub direct: bool,
    /// Index into [`Dataset::revs`] once refunded or charged back.
    pub reversal: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RevKind {
    Refund,
    Partial,
    Chargeback,
}

impl RevKind {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            RevKind::Refund | RevKind::Partial => "Cancellation by the user request",
            RevKind::Chargeback => "Chargeback",
        }
    }
    /// The payment's status once this reversal is booked.
    fn status_after(self) -> Status {
        match self {
            RevKind::Refund | RevKind::Chargeback => Status::Refunded,
            RevKind::Partial => Status::PartiallyRefunded,
        }
    }
}

/// A refund, partial refund or chargeback: one negative registry row.
#[derive(Clone, Debug)]
pub(crate) struct Reversal {
    pub txn: u32,
    /// Unix seconds; the negative row's `transfer_date`.
    pub at: i64,
    pub kind: RevKind,
    /// Refunded part of the payment (payment currency) for partial refunds.
    pub amount: Option<Decimal>,
    /// Penalty in the payment currency (positive here; rendered negated).
    pub penalty: Decimal,
    pub comment: Box<str>,
}

/// One registry row: a payment (`rev: None`) or a reversal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowRef {
    pub at: i64,
    pub txn: u32,
    pub rev: Option<u32>,
}

/// All money of one row, in one currency.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Money {
    pub payment: Decimal,
    pub nominal: Decimal,
    pub user_commission: Decimal,
    pub vat: Decimal,
    pub sales_tax: Decimal,
    pub ps: Decimal,
    pub ps_fixed: Decimal,
    pub xsolla: Decimal,
    pub xsolla_fixed: Decimal,
    /// CPA network commission (the `cpa_commissions` quirk; else 0).
    pub cpa: Decimal,
    pub net: Decimal,
    pub payout: Decimal,
    pub refund_penalty: Decimal,
    pub chargeback_penalty: Decimal,
}

impl Money {
    fn map(&self, f: impl Fn(Decimal) -> Decimal, payout: Decimal) -> Money {
        Money {
            payment: f(self.payment),
            nominal: f(self.nominal),
            user_commission: f(self.user_commission),
            vat: f(self.vat),
            sales_tax: f(self.sales_tax),
            ps: f(self.ps),
            ps_fixed: f(self.ps_fixed),
            xsolla: f(self.xsolla),
            xsolla_fixed: f(self.xsolla_fixed),
            cpa: f(self.cpa),
            net: f(self.net),
            payout,
            refund_penalty: f(self.refund_penalty),
            chargeback_penalty: f(self.chargeback_penalty),
        }
    }
    fn negated(&self) -> Money {
        self.map(|d| -d, -self.payout)
    }
    /// Every payment-currency amount converted to the payout currency (`in_transfer_currency`).
    pub(crate) fn in_payout_currency(&self, fx: Decimal) -> Money {
        let usd = &CURRENCIES[PAYOUT];
        self.map(|d| round_to(d * fx, usd), self.payout)
    }
}

/// Aggregate of one payout (half-month period).
#[derive(Clone, Debug)]
pub(crate) struct PayoutAgg {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub amount: Decimal,
    pub rows: u64,
}

/// What the generator needs from the configuration.
#[derive(Clone, Debug)]
pub(crate) struct GenParams {
    pub seed: u64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub today: NaiveDate,
    pub per_day: u32,
    /// The zone dates are served in: date-times are shown as its local times, and day
    /// filters, payout periods and reports use its days.
    pub tz: chrono_tz::Tz,
}

/// The whole truth the server answers from.
pub(crate) struct Dataset {
    pub params: GenParams,
    pub txns: Vec<Txn>,
    pub revs: Vec<Reversal>,
    /// Registry rows sorted by (`at`, transaction id, payment before reversal).
    pub rows: Vec<RowRef>,
    /// fx per (day since `from`, currency).
    rates: Vec<[Decimal; 6]>,
    users: u32,
    ext_key: i64,
    pub payouts: BTreeMap<i64, PayoutAgg>,
    api_reversals: i64,
    /// See [`super::DataQuirks`].
    pub quirks: super::DataQuirks,
    /// Order number of each transaction within its project, when
    /// `quirks.order_numbers_per_project` (index as `txns`).
    order_numbers: Option<Vec<u32>>,
}

fn dec(p: (i64, u32)) -> Decimal {
    Decimal::new(p.0, p.1)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn epoch_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")
}

/// Days since 2000-01-01; ids and RNG seeds use it so a day's data does not depend on `from`.
fn day_number(d: NaiveDate) -> i64 {
    (d - epoch_day()).num_days()
}

pub(crate) fn ts(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp()
}

pub(crate) fn datetime(secs: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

pub(crate) fn date_of(secs: i64) -> NaiveDate {
    datetime(secs).date()
}

fn pick_weighted<T>(rng: &mut ChaCha8Rng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut r = rng.random_range(0..total);
    for (i, it) in items.iter().enumerate() {
        let w = weight(it);
        if r < w {
            return i;
        }
        r -= w;
    }
    items.len() - 1
}

/// Half-month payout period of a date: (payout id, first day, last day).
pub(crate) fn period_of(d: NaiveDate) -> (i64, NaiveDate, NaiveDate) {
    let month_index = (i64::from(d.year()) - 2000) * 12 + i64::from(d.month0());
    let first = d.with_day(1).expect("day 1 exists");
    let next_month = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
    .expect("valid date");
    if d.day() <= 15 {
        (7_000 + month_index * 2, first, first + Duration::days(14))
    } else {
        (
            7_000 + month_index * 2 + 1,
            first + Duration::days(15),
            next_month - Duration::days(1),
        )
    }
}

/// Payout date of a period: five days after it ends.
pub(crate) fn payout_date(period_end: NaiveDate) -> NaiveDate {
    period_end + Duration::days(5)
}

/// Monthly financial report id of a date (one payout currency, so one report per month).
pub(crate) fn report_id_of(d: NaiveDate) -> i64 {
    41_000 + (i64::from(d.year()) - 2000) * 12 + i64::from(d.month0())
}

/// (year, month) of a report id.
pub(crate) fn report_month(report_id: i64) -> (i32, u32) {
    let m = report_id - 41_000;
    (2000 + m.div_euclid(12) as i32, m.rem_euclid(12) as u32 + 1)
}

/// Builds the dataset. Pure function of `p`.
pub(crate) fn generate(p: GenParams) -> Dataset {
    let days = (p.to - p.from).num_days() + 1;
    let users = (p.per_day.saturating_mul(20)).max(500);
    let ext_key = (splitmix(p.seed ^ 0xE7) & 0x0000_FFFF_FFFF_FFFF) as i64;
    let mut draft = Draft {
        seed: p.seed,
        users,
        per_day: p.per_day,
        txns: Vec::with_capacity((days as usize) * (p.per_day as usize) * 6 / 5),
        revs: Vec::new(),
    };
    let mut rates = Vec::with_capacity(days as usize);
    for di in 0..days {
        let day = p.from + Duration::days(di);
        let mut rng =
            ChaCha8Rng::seed_from_u64(splitmix(p.seed ^ splitmix(day_number(day) as u64)));
        // The rates are drawn first: the day's payments come after them in the stream.
        rates.push(daily_rates(&mut rng));
        draft.draw_day(&mut rng, day);
    }
    let rows = registry_rows(&draft.txns, &draft.revs);
    let mut ds = Dataset {
        params: p,
        txns: draft.txns,
        revs: draft.revs,
        rows,
        rates,
        users,
        ext_key,
        payouts: BTreeMap::new(),
        api_reversals: 0,
        quirks: super::DataQuirks::default(),
        order_numbers: None,
    };
    for i in 0..ds.rows.len() {
        let r = ds.rows[i];
        ds.add_to_payout(r);
    }
    ds
}

/// USD per unit of each currency on one day: the base rate with a ±1 % drift, exact.
fn daily_rates(rng: &mut ChaCha8Rng) -> [Decimal; 6] {
    let mut r = [Decimal::ZERO; 6];
    for (i, c) in CURRENCIES.iter().enumerate() {
        r[i] = if i == PAYOUT {
            Decimal::ONE
        } else {
            let drift = Decimal::new(rng.random_range(-10_000..=10_000), 6);
            (dec(c.base_rate) * (Decimal::ONE + drift)).round_dp(10)
        };
    }
    r
}

/// The transactions and reversals generated so far, and what drawing more of them needs.
///
/// Every draw comes from the day's RNG in a fixed order: reordering or adding a draw changes
/// every dataset (and the demo's reports) from that point on.
struct Draft {
    seed: u64,
    users: u32,
    per_day: u32,
    txns: Vec<Txn>,
    revs: Vec<Reversal>,
}

impl Draft {
    /// One day's payment attempts in time order, some of them later refunded or charged back.
    fn draw_day(&mut self, rng: &mut ChaCha8Rng, day: NaiveDate) {
        let dn = day_number(day);
        let n = u64::from(self.per_day) * rng.random_range(80..=120) / 100;
        let mut secs: Vec<u32> = (0..n).map(|_| rng.random_range(0..86_400)).collect();
        secs.sort_unstable();
        let day_start = ts(day);
        for (seq, s) in secs.iter().enumerate() {
            let id = 700_000_000 + dn * 100_000 + seq as i64;
            let mut t = draw_txn(rng, id, day_start + i64::from(*s), self.users);
            if t.status == Status::Done {
                self.maybe_reverse(rng, &mut t);
            }
            self.txns.push(t);
        }
    }

    /// About 4 % of completed payments get a refund, a partial refund or a chargeback, 1 to 20
    /// days later. `t` is the transaction about to be pushed.
    fn maybe_reverse(&mut self, rng: &mut ChaCha8Rng, t: &mut Txn) {
        let kind = match rng.random_range(0..1000u32) {
            0..=19 => RevKind::Refund,
            20..=29 => RevKind::Partial,
            30..=39 => RevKind::Chargeback,
            _ => return,
        };
        let at = t.created + rng.random_range(1..=20i64) * 86_400 + rng.random_range(0..3_600i64);
        let pct = rng.random_range(10..=90i64);
        let with_penalty = rng.random_range(0..3u32) == 0;
        let cur = &CURRENCIES[COUNTRIES[user_country(self.seed, t.user)].currency];
        let (amount, penalty, comment) = match kind {
            RevKind::Refund => (
                None,
                if with_penalty {
                    cur.refund_penalty()
                } else {
                    Decimal::ZERO
                },
                "Player asked for a refund",
            ),
            RevKind::Partial => {
                let payment = positive_money(t, self.seed, Decimal::ONE, false).payment;
                (
                    Some(round_to_currency(payment * Decimal::new(pct, 2), cur.code)),
                    Decimal::ZERO,
                    "Goodwill partial refund",
                )
            }
            RevKind::Chargeback => (None, cur.chargeback_penalty(), "Cardholder dispute"),
        };
        let txn = self.txns.len() as u32;
        t.status = kind.status_after();
        t.reversal = Some(self.revs.len() as u32);
        self.revs.push(Reversal {
            txn,
            at,
            kind,
            amount,
            penalty,
            comment: comment.into(),
        });
    }
}

/// One payment attempt created at `created`: who paid, for what, how, and how it ended.
fn draw_txn(rng: &mut ChaCha8Rng, id: i64, created: i64, users: u32) -> Txn {
    let user = rng.random_range(0..users);
    let project = pick_weighted(rng, PROJECTS, |p| p.weight) as u8;
    let method = pick_weighted(rng, METHODS, |m| m.weight) as u8;
    let price = rng.random_range(0..6u8);
    let status = match rng.random_range(0..1000u32) {
        0..=9 => Status::Created,
        10..=24 => Status::Error,
        25..=29 => Status::Canceled,
        _ => Status::Done,
    };
    let dry_run = rng.random_range(0..100u32) < 3;
    let direct = rng.random_range(0..100u32) < 5;
    let done_after = if status.completed() {
        rng.random_range(3..600u16)
    } else {
        0
    };
    Txn {
        id,
        created,
        done_after,
        user,
        price,
        project,
        method,
        status,
        dry_run,
        direct,
        reversal: None,
    }
}

/// The registry: a row per completed payment and per reversal, in [`Dataset::rows`] order.
fn registry_rows(txns: &[Txn], revs: &[Reversal]) -> Vec<RowRef> {
    let mut rows: Vec<RowRef> = Vec::with_capacity(txns.len() + revs.len());
    for (i, t) in txns.iter().enumerate() {
        if t.status.completed() {
            rows.push(RowRef {
                at: t.created + i64::from(t.done_after),
                txn: i as u32,
                rev: None,
            });
        }
    }
    for (i, r) in revs.iter().enumerate() {
        rows.push(RowRef {
            at: r.at,
            txn: r.txn,
            rev: Some(i as u32),
        });
    }
    rows.sort_unstable_by_key(|r| (r.at, r.txn, r.rev.is_some()));
    rows
}

/// Country index of a user; a pure function of (seed, user) so users need no storage.
pub(crate) fn user_country(seed: u64, user: u32) -> usize {
    let total: u64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut r = splitmix(seed ^ (u64::from(user) << 20) ^ 0xC0) % total;
    for (i, c) in COUNTRIES.iter().enumerate() {
        if r < c.weight {
            return i;
        }
        r -= c.weight;
    }
    0
}

/// [`round_to_currency`] by the table's exponent, without looking the code up (an upper-cased
/// copy and a search, a dozen times per row rendered). The test
/// `currency_exponents_are_the_domain_ones` holds the two tables equal.
fn round_to(d: Decimal, cur: &Currency) -> Decimal {
    d.round_dp_with_strategy(
        cur.exp,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    )
}

/// The payment's money, positive, in the payment currency (see the module docs).
fn positive_money(t: &Txn, seed: u64, fx: Decimal, cpa_on: bool) -> Money {
    let country = &COUNTRIES[user_country(seed, t.user)];
    let cur = &CURRENCIES[country.currency];
    let method = &METHODS[t.method as usize];
    let rc = |d: Decimal| round_to(d, cur);
    let hundred = Decimal::ONE_HUNDRED;
    let nominal = Decimal::new(cur.prices[t.price as usize], cur.exp);
    let user_commission = rc(nominal * dec(method.user_percent) / hundred);
    let base = nominal + user_commission;
    let vat = rc(base * dec(country.vat) / hundred);
    let sales_tax = rc(base * dec(country.sales_tax) / hundred);
    let payment = base + vat + sales_tax;
    let ps_fixed = Decimal::new(cur.ps_fixed, cur.exp);
    let ps = rc(nominal * dec(method.ps_percent) / hundred) + ps_fixed;
    let xsolla_fixed = Decimal::new(cur.xsolla_fixed, cur.exp);
    let xsolla = rc(nominal * XSOLLA_PERCENT / hundred) + xsolla_fixed;
    let cpa = if cpa_on && t.id % 4 == 0 {
        rc(nominal * Decimal::TWO / hundred)
    } else {
        Decimal::ZERO
    };
    let net = payment - user_commission - vat - sales_tax - ps - xsolla - cpa;
    Money {
        payment,
        nominal,
        user_commission,
        vat,
        sales_tax,
        ps,
        ps_fixed,
        xsolla,
        xsolla_fixed,
        cpa,
        net,
        payout: round_to(net * fx, &CURRENCIES[PAYOUT]),
        refund_penalty: Decimal::ZERO,
        chargeback_penalty: Decimal::ZERO,
    }
}

/// The pro-rata part `r` of a payment (module docs), positive.
fn portion(m: &Money, r: Decimal, cur: &Currency, fx: Decimal) -> Money {
    let k = |x: Decimal| round_to(x * r / m.payment, cur);
    let (user_commission, vat, sales_tax) = (k(m.user_commission), k(m.vat), k(m.sales_tax));
    let (ps, xsolla, cpa) = (k(m.ps), k(m.xsolla), k(m.cpa));
    let net = r - user_commission - vat - sales_tax - ps - xsolla - cpa;
    Money {
        payment: r,
        nominal: r - user_commission - vat - sales_tax,
        user_commission,
        vat,
        sales_tax,
        ps,
        ps_fixed: k(m.ps_fixed),
        xsolla,
        xsolla_fixed: k(m.xsolla_fixed),
        cpa,
        net,
        payout: round_to(net * fx, &CURRENCIES[PAYOUT]),
        refund_penalty: Decimal::ZERO,
        chargeback_penalty: Decimal::ZERO,
    }
}

/// Why a refund or chargeback request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MutationError {
    NotFound,
    Unprocessable(&'static str),
}

impl Dataset {
    pub(crate) fn country(&self, t: &Txn) -> &'static Country {
        &COUNTRIES[user_country(self.params.seed, t.user)]
    }
    pub(crate) fn currency(&self, t: &Txn) -> &'static Currency {
        &CURRENCIES[self.country(t).currency]
    }
    /// USD per unit of the payment currency on the payment's creation day.
    pub(crate) fn fx(&self, t: &Txn) -> Decimal {
        let day = (date_of(t.created) - self.params.from).num_days();
        let day = day.clamp(0, self.rates.len() as i64 - 1) as usize;
        self.rates[day][self.country(t).currency]
    }
    /// The money of a registry row, signed, in the payment currency.
    pub(crate) fn row_money(&self, r: RowRef) -> Money {
        let t = &self.txns[r.txn as usize];
        let fx = self.fx(t);
        let m = positive_money(t, self.params.seed, fx, self.quirks.cpa_commissions);
        match r.rev {
            None => m,
            Some(ri) => {
                let rev = &self.revs[ri as usize];
                let cur = self.currency(t);
                let mut part = match rev.amount {
                    None => m,
                    Some(a) => portion(&m, a, cur, fx),
                };
                match rev.kind {
                    RevKind::Chargeback => part.chargeback_penalty = rev.penalty,
                    _ => part.refund_penalty = rev.penalty,
                }
                part.negated()
            }
        }
    }
    /// The payment's own money (search, details), positive.
    pub(crate) fn txn_money(&self, t: &Txn) -> Money {
        positive_money(t, self.params.seed, self.fx(t), self.quirks.cpa_commissions)
    }
    /// What a row takes off its payout besides its `payout.amount`: with the
    /// `penalties_deducted_from_payouts` variant, its penalties (negative) at its `fx_rate`,
    /// rounded to USD; else 0.
    fn payout_deduction(&self, r: RowRef) -> Decimal {
        if !self.quirks.penalties_deducted_from_payouts {
            return Decimal::ZERO;
        }
        let m = self.row_money(r);
        let penalties = m.refund_penalty + m.chargeback_penalty;
        if penalties.is_zero() {
            return Decimal::ZERO;
        }
        let fx = self.fx(&self.txns[r.txn as usize]);
        round_to(penalties * fx, &CURRENCIES[PAYOUT])
    }
    /// Payout id of a row, `None` for test payments (they are never paid out).
    pub(crate) fn row_payout(&self, r: RowRef) -> Option<i64> {
        (!self.txns[r.txn as usize].dry_run).then(|| period_of(self.local_date(r.at)).0)
    }
    pub(crate) fn row_report(&self, r: RowRef) -> Option<i64> {
        (!self.txns[r.txn as usize].dry_run).then(|| report_id_of(self.local_date(r.at)))
    }
    /// Applies [`super::DataQuirks`] after generation.
    pub(crate) fn apply_quirks(&mut self, q: &super::DataQuirks) {
        self.quirks = q.clone();
        if q.penalties_deducted_from_payouts || q.cpa_commissions {
            // The rows generated so far were added to their payouts before the variant (or
            // the CPA commissions, which lower each row's payout) was known.
            self.payouts.clear();
            for i in 0..self.rows.len() {
                self.add_to_payout(self.rows[i]);
            }
        }
        let picks: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let t = &self.txns[r.txn as usize];
                r.rev.is_none() && !t.dry_run && t.status.completed()
            })
            .map(|(i, _)| i)
            .take(q.duplicated_payments as usize)
            .collect();
        for i in picks.into_iter().rev() {
            let r = self.rows[i];
            self.rows.insert(i + 1, r);
            self.add_to_payout(r);
        }
        if let (Some(delta), Some(first)) =
            (q.payout_amount_delta, self.payouts.values_mut().next())
        {
            first.amount += delta;
        }
        // Last: the quirks above pick the data set's first rows and payout.
        self.add_early_refunds(q.early_refunds, q.early_refunds_days_earlier);
        if q.order_numbers_per_project {
            let mut next = [1001u32; 8];
            self.order_numbers = Some(
                self.txns
                    .iter()
                    .map(|t| {
                        let n = &mut next[usize::from(t.project) % 8];
                        *n += 1;
                        *n - 1
                    })
                    .collect(),
            );
        }
    }

    /// [`super::DataQuirks::early_refunds`]: `n` completed payments on the day before `from`
    /// (`earlier` days more before it), drawn from their own stream (the rest of the data is unchanged). Payment `i` is refunded
    /// (`i % 3 == 0`) or charged back (`i % 3 == 1`) on day `i % 5` of the data set, or left
    /// alone (`i % 3 == 2`: a payment before any window with no reversal at all).
    fn add_early_refunds(&mut self, n: u32, earlier: u32) {
        if n == 0 {
            return;
        }
        let n = n.min(50_000);
        let day = self
            .params
            .from
            .checked_sub_days(chrono::Days::new(1 + u64::from(earlier.min(3_650))))
            .expect("far from chrono's limits");
        let dn = day_number(day);
        let mut rng =
            ChaCha8Rng::seed_from_u64(splitmix(self.params.seed ^ 0xEA51 ^ splitmix(dn as u64)));
        // The new payments go first (ids are sorted), so every index moves up by `n`.
        for r in &mut self.rows {
            r.txn += n;
        }
        for v in &mut self.revs {
            v.txn += n;
        }
        let days = (self.params.to - self.params.from).num_days().clamp(0, 4) + 1;
        let mut early = Vec::with_capacity(n as usize);
        let mut new_rows = Vec::new();
        for i in 0..n {
            let created = ts(day) + 3_600 + i64::from(i) * 79_000 / i64::from(n);
            let id = 700_000_000 + dn * 100_000 + i64::from(i);
            let mut t = draw_txn(&mut rng, id, created, self.users);
            t.status = Status::Done;
            t.dry_run = false;
            t.done_after = rng.random_range(3..600u16);
            new_rows.push(RowRef {
                at: created + i64::from(t.done_after),
                txn: i,
                rev: None,
            });
            let kind = match i % 3 {
                0 => RevKind::Refund,
                1 => RevKind::Chargeback,
                _ => {
                    early.push(t);
                    continue;
                }
            };
            let at = ts(self.params.from) + (i64::from(i) % days) * 86_400 + 7_200 + i64::from(i);
            let penalty = match kind {
                RevKind::Chargeback => CURRENCIES
                    [COUNTRIES[user_country(self.params.seed, t.user)].currency]
                    .chargeback_penalty(),
                _ => Decimal::ZERO,
            };
            t.status = kind.status_after();
            t.reversal = Some(self.revs.len() as u32);
            self.revs.push(Reversal {
                txn: i,
                at,
                kind,
                amount: None,
                penalty,
                comment: "Refund of a payment from before the data set".into(),
            });
            new_rows.push(RowRef {
                at,
                txn: i,
                rev: t.reversal,
            });
            early.push(t);
        }
        self.txns.splice(0..0, early);
        for r in new_rows {
            self.rows.push(r);
            self.add_to_payout(r);
        }
        self.rows.sort_by_key(|r| (r.at, r.txn, r.rev.is_some()));
    }

    fn add_to_payout(&mut self, r: RowRef) {
        if self.txns[r.txn as usize].dry_run {
            return;
        }
        let amount = self.row_money(r).payout + self.payout_deduction(r);
        let (id, start, end) = period_of(self.local_date(r.at));
        let agg = self.payouts.entry(id).or_insert(PayoutAgg {
            start,
            end,
            amount: Decimal::ZERO,
            rows: 0,
        });
        agg.amount += amount;
        agg.rows += 1;
    }
    pub(crate) fn user_id(&self, t: &Txn) -> String {
        format!("player_{:06}", t.user)
    }
    pub(crate) fn user_email(&self, t: &Txn) -> String {
        format!("player{}@example.net", t.user)
    }
    pub(crate) fn user_name(&self, t: &Txn) -> String {
        format!("Player {}", t.user)
    }
    /// The game's order id; a bijection of the transaction id so lookups need no index.
    pub(crate) fn external_id(&self, t: &Txn) -> String {
        if let (Some(numbers), Some(i)) = (&self.order_numbers, self.find(t.id)) {
            return numbers[i as usize].to_string();
        }
        format!(
            "{}-{:x}",
            PROJECTS[t.project as usize].prefix,
            t.id ^ self.ext_key
        )
    }
    pub(crate) fn find(&self, id: i64) -> Option<u32> {
        self.txns
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| i as u32)
    }
    pub(crate) fn find_external(&self, ext: &str) -> Option<u32> {
        if let Some(numbers) = &self.order_numbers {
            // Ambiguous by design: the first project's order of that number.
            let n: u32 = ext.parse().ok()?;
            return numbers.iter().position(|&m| m == n).map(|i| i as u32);
        }
        let (prefix, hex) = ext.split_once('-')?;
        let id = i64::from_str_radix(hex, 16).ok()? ^ self.ext_key;
        let i = self.find(id)?;
        (PROJECTS[self.txns[i as usize].project as usize].prefix == prefix).then_some(i)
    }
    pub(crate) fn users(&self) -> u32 {
        self.users
    }
    /// The instant (Unix seconds) as a local time of the served zone, in seconds: what
    /// [`datetime`] of it shows is the local time.
    pub(crate) fn local(&self, secs: i64) -> i64 {
        use chrono::{Offset, TimeZone};
        let utc = datetime(secs);
        secs + i64::from(
            self.params
                .tz
                .offset_from_utc_datetime(&utc)
                .fix()
                .local_minus_utc(),
        )
    }

    /// The date of an instant in the served zone.
    pub(crate) fn local_date(&self, secs: i64) -> NaiveDate {
        date_of(self.local(secs))
    }

    /// The instant (Unix seconds) day `d` starts in the served zone.
    pub(crate) fn day_start(&self, d: NaiveDate) -> i64 {
        crate::domain::window::start_of_day(self.params.tz, d).timestamp()
    }

    /// Registry rows with `at` in `[from, to]` days of the served zone, inclusive (all rows
    /// when `None`).
    pub(crate) fn rows_in(&self, range: Option<(NaiveDate, NaiveDate)>) -> &[RowRef] {
        match range {
            None => &self.rows,
            Some((from, to)) => {
                let lo = self.day_start(from);
                let hi = to.succ_opt().map_or(i64::MAX, |n| self.day_start(n));
                let a = self.rows.partition_point(|r| r.at < lo);
                let b = self.rows.partition_point(|r| r.at < hi);
                &self.rows[a..b.max(a)]
            }
        }
    }

    /// Books a reversal made through the API on transaction `idx`: a negative row at noon of
    /// `today` (a second later for each one before it, never before the payment completed),
    /// the new status, and the payout.
    fn book_reversal(
        &mut self,
        idx: u32,
        kind: RevKind,
        amount: Option<Decimal>,
        penalty: Decimal,
        comment: &str,
    ) {
        self.api_reversals += 1;
        let t = &self.txns[idx as usize];
        let noon = ts(self.params.today) + 12 * 3_600 + self.api_reversals;
        let at = noon.max(t.created + i64::from(t.done_after) + 60);
        let ri = self.revs.len() as u32;
        let row = RowRef {
            at,
            txn: idx,
            rev: Some(ri),
        };
        self.revs.push(Reversal {
            txn: idx,
            at,
            kind,
            amount,
            penalty,
            comment: comment.into(),
        });
        let t = &mut self.txns[idx as usize];
        t.status = kind.status_after();
        t.reversal = Some(ri);
        let key = (row.at, row.txn, true);
        let pos = self
            .rows
            .partition_point(|r| (r.at, r.txn, r.rev.is_some()) <= key);
        self.rows.insert(pos, row);
        self.add_to_payout(row);
    }

    /// Transaction `id` if it is `done` (the only status a reversal applies to), else `refusal`.
    fn done_txn(&self, id: i64, refusal: &'static str) -> Result<(u32, &Txn), MutationError> {
        let idx = self.find(id).ok_or(MutationError::NotFound)?;
        let t = &self.txns[idx as usize];
        if t.status != Status::Done {
            return Err(MutationError::Unprocessable(refusal));
        }
        Ok((idx, t))
    }

    /// Full refund through the API: `done` → `refunded` plus a negative row dated `today`.
    pub(crate) fn refund(&mut self, id: i64, comment: &str) -> Result<(), MutationError> {
        let (idx, t) = self.done_txn(id, NO_REFUND)?;
        // Every third refund carries a penalty, deterministically.
        let penalty = if t.id % 3 == 0 {
            self.currency(t).refund_penalty()
        } else {
            Decimal::ZERO
        };
        self.book_reversal(idx, RevKind::Refund, None, penalty, comment);
        Ok(())
    }

    /// Partial refund through the API (`amount` in the payment currency).
    pub(crate) fn partial_refund(
        &mut self,
        id: i64,
        amount: Decimal,
        comment: &str,
    ) -> Result<(), MutationError> {
        let (idx, t) = self.done_txn(id, NO_REFUND)?;
        let cur = self.currency(t);
        let payment = self.txn_money(t).payment;
        if amount > payment {
            return Err(MutationError::Unprocessable(
                "Requested partial refund amount exceeds payment amount.",
            ));
        }
        if amount <= Decimal::ZERO || amount.normalize().scale() > cur.exp {
            return Err(MutationError::Unprocessable(
                "Requested partial refund amount is less than minimum amount specified by payment system.",
            ));
        }
        self.book_reversal(idx, RevKind::Partial, Some(amount), Decimal::ZERO, comment);
        Ok(())
    }

    /// Chargeback (sandbox "testing" call): `done` → `refunded`, reason "Chargeback".
    pub(crate) fn chargeback(&mut self, project_id: i64, id: i64) -> Result<(), MutationError> {
        let idx = self.find(id).ok_or(MutationError::NotFound)?;
        if PROJECTS[self.txns[idx as usize].project as usize].id != project_id {
            return Err(MutationError::Unprocessable(
                "Payment does not belong to this project.",
            ));
        }
        let (idx, t) = self.done_txn(
            id,
            "Incorrect payment status. Chargeback is possible only for payments with “Completed” status.",
        )?;
        let penalty = self.currency(t).chargeback_penalty();
        self.book_reversal(
            idx,
            RevKind::Chargeback,
            None,
            penalty,
            "Chargeback requested through the sandbox",
        );
        Ok(())
    }
}

/// Why a refund of a payment that is not `done` is refused.
const NO_REFUND: &str = "Current transaction status does not allow refunds.";

#[cfg(test)]
mod tests {
    use super::*;

    fn params(seed: u64) -> GenParams {
        let from = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        GenParams {
            seed,
            from,
            to,
            today: to,
            per_day: 40,
            tz: chrono_tz::Tz::UTC,
        }
    }

    /// `round_to` rounds by the sandbox's exponents, `round_to_currency` by the domain's.
    #[test]
    fn currency_exponents_are_the_domain_ones() {
        for c in CURRENCIES {
            assert_eq!(c.exp, crate::domain::money::exponent(c.code), "{}", c.code);
            let d = Decimal::new(123_455, 3);
            assert_eq!(round_to(d, c), round_to_currency(d, c.code), "{}", c.code);
            assert_eq!(round_to(-d, c), round_to_currency(-d, c.code), "{}", c.code);
        }
    }

    #[test]
    fn cpa_commissions_lower_net_and_the_payouts_that_sum_them() {
        let mut ds = generate(params(7));
        let total = |ds: &Dataset| ds.payouts.values().map(|p| p.amount).sum::<Decimal>();
        let before = total(&ds);
        ds.apply_quirks(&super::super::DataQuirks {
            cpa_commissions: true,
            ..Default::default()
        });
        let mut with_cpa = 0;
        let mut rows_payout = Decimal::ZERO;
        for r in &ds.rows {
            let m = ds.row_money(*r);
            let t = &ds.txns[r.txn as usize];
            let fees = m.user_commission + m.vat + m.sales_tax + m.ps + m.xsolla + m.cpa;
            assert_eq!(m.net, m.payment - fees, "txn {}", t.id);
            if !m.cpa.is_zero() {
                with_cpa += 1;
                assert_eq!(t.id % 4, 0, "txn {}", t.id);
            }
            if !t.dry_run {
                rows_payout += m.payout;
            }
        }
        assert!(with_cpa > 0);
        assert!(total(&ds) < before);
        assert_eq!(
            total(&ds),
            rows_payout,
            "a payout is its rows' payout amounts"
        );
    }

    #[test]
    fn money_identity_holds_for_every_row() {
        let ds = generate(params(7));
        for r in &ds.rows {
            let m = ds.row_money(*r);
            let t = &ds.txns[r.txn as usize];
            assert_eq!(
                m.net,
                m.payment - m.user_commission - m.vat - m.sales_tax - m.ps - m.xsolla - m.cpa,
                "txn {}",
                t.id
            );
            assert_eq!(m.payout, round_to_currency(m.net * ds.fx(t), "USD"));
            let exp = ds.currency(t).exp;
            for d in [
                m.payment,
                m.ps,
                m.xsolla,
                m.vat,
                m.sales_tax,
                m.user_commission,
            ] {
                assert!(d.normalize().scale() <= exp, "{d} has too many decimals");
            }
            if r.rev.is_some() {
                assert!(m.payment < Decimal::ZERO);
            } else {
                assert!(
                    m.net > Decimal::ZERO,
                    "fees exceed the price of txn {}",
                    t.id
                );
            }
        }
    }

    #[test]
    fn a_day_does_not_depend_on_the_window() {
        let a = generate(params(7));
        let mut p = params(7);
        p.from = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
        let b = generate(p);
        let first_b = &b.txns[0];
        let same = a.txns.iter().find(|t| t.id == first_b.id).unwrap();
        assert_eq!(
            (same.created, same.user, same.price),
            (first_b.created, first_b.user, first_b.price)
        );
    }

    #[test]
    fn external_ids_round_trip() {
        let ds = generate(params(3));
        for (i, t) in ds.txns.iter().enumerate().step_by(97) {
            assert_eq!(ds.find_external(&ds.external_id(t)), Some(i as u32));
        }
        assert_eq!(ds.find_external("sfo-zz"), None);
    }

    #[test]
    fn periods_split_months_in_halves() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let (a, s, e) = period_of(d(2, 15));
        assert_eq!((s, e), (d(2, 1), d(2, 15)));
        let (b, s, e) = period_of(d(2, 16));
        assert_eq!((s, e), (d(2, 16), d(2, 28)));
        assert_eq!(b, a + 1);
        assert_eq!(report_month(report_id_of(d(12, 31))), (2026, 12));
    }
}
