//! CloudTrail Lake's SQL dialect on top of DataFusion's, in two passes.
//!
//! Before parsing, on the text (outside strings, quoted names and comments):
//! a bare event data store id or ARN (`FROM 5e2676f8-…`, which no SQL
//! tokenizer reads as a name) becomes a quoted name; a placeholder left after
//! `FROM`/`JOIN` (`$EDS_ID`, `<EDS ID>`) is refused with the known stores;
//! Panther's macros `p_occurs_since(1h)` and `p_occurs_between(a, b)`
//! expand to time filters, as Panther expands them before parsing.
//!
//! After parsing, on the syntax tree: every name is lower-cased (Trino
//! folds quoted names too), a field of a computed struct
//! (`element_at(resources, 1).arn`) becomes a subscript, and a Trino
//! function that DataFusion has as another expression is written as it
//! (`count_if(x)` → `count(CASE …)`, `max_by` → `first_value(… ORDER BY …)`,
//! `listagg … WITHIN GROUP` → `string_agg`; see [`REWRITES`]),
//! and the result columns are named as Lake names them: a column or struct
//! leaf keeps its name (`principalid`), any other unnamed expression is
//! `_col<position>`.

use crate::catalog::eds::{EventDataStore, describe, is_uuid, parse_id};
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, LambdaFunction,
    LambdaFunctionParameter, LambdaSyntax, ObjectName, ObjectNamePart, OneOrManyWithParens, Query, SelectItem, SetExpr, Statement,
    Subscript, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use std::ops::ControlFlow;

/// A query the dialect passes refuse, and what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum DialectError {
    #[error("`{placeholder}` is a placeholder: put an event data store id (or ARN) there; known stores: {known}")]
    Placeholder { placeholder: String, known: String },
    #[error("{name}( is not closed")]
    MacroNotClosed { name: &'static str },
    #[error("{name} takes {wanted} argument(s): {usage}")]
    MacroArguments { name: &'static str, wanted: usize, usage: &'static str },
    #[error("p_occurs_since: {0}")]
    Offset(#[source] OffsetError),
    /// A Trino function written as another expression, with arguments it does not take.
    #[error("{name} takes {wanted}: {usage}")]
    Arguments { name: &'static str, wanted: &'static str, usage: &'static str },
    /// A rewritten Trino function with a window, a filter or DISTINCT, which its rewrite would drop.
    #[error("{name} cannot take OVER, FILTER or DISTINCT in tarn (it is rewritten as another expression); write {usage}")]
    Clause { name: &'static str, usage: &'static str },
    /// `IPADDRESS '...'` with text that is not an address.
    #[error("IPADDRESS '{0}' is not an IPv4 or IPv6 address")]
    IpAddress(String),
    /// `try(...)` without exactly one expression.
    #[error("try takes one expression: try(CAST(x AS BIGINT)), try(a / b), try(date_parse(x, '%Y-%m-%d'))")]
    Try,
    /// A Trino function rewritten as an expression that does not parse again.
    #[error("{name}: {source}")]
    Rewrite {
        name: &'static str,
        #[source]
        source: ParserError,
    },
}

/// A Trino function that is another expression in DataFusion: `{0}`, `{1}`
/// … are its arguments (each in parentheses), `{order}` the `ORDER BY` of
/// its `WITHIN GROUP`.
struct Rewrite {
    name: &'static str,
    arguments: usize,
    template: &'static str,
}

/// Every rewrite, by name and number of arguments; `USAGE` says how each
/// name is called when none matches.
const REWRITES: &[Rewrite] = &[
    Rewrite { name: "count_if", arguments: 1, template: "count(CASE WHEN {0} THEN 1 END)" },
    Rewrite { name: "if", arguments: 2, template: "CASE WHEN {0} THEN {1} END" },
    Rewrite { name: "if", arguments: 3, template: "CASE WHEN {0} THEN {1} ELSE {2} END" },
    Rewrite { name: "is_nan", arguments: 1, template: "isnan({0})" },
    Rewrite { name: "bitwise_and", arguments: 2, template: "({0} & {1})" },
    Rewrite { name: "bitwise_or", arguments: 2, template: "({0} | {1})" },
    Rewrite { name: "bitwise_xor", arguments: 2, template: "(({0} | {1}) - ({0} & {1}))" },
    Rewrite { name: "levenshtein_distance", arguments: 2, template: "CAST(levenshtein({0}, {1}) AS BIGINT)" },
    Rewrite { name: "to_utf8", arguments: 1, template: "CAST({0} AS BYTEA)" },
    Rewrite { name: "from_utf8", arguments: 1, template: "CAST({0} AS VARCHAR)" },
    Rewrite { name: "zip", arguments: 2, template: "arrays_zip({0}, {1})" },
    Rewrite { name: "zip", arguments: 3, template: "arrays_zip({0}, {1}, {2})" },
    Rewrite { name: "max_by", arguments: 2, template: "first_value({0} ORDER BY {1} DESC) FILTER (WHERE {1} IS NOT NULL)" },
    Rewrite { name: "min_by", arguments: 2, template: "first_value({0} ORDER BY {1} ASC) FILTER (WHERE {1} IS NOT NULL)" },
    Rewrite { name: "set_agg", arguments: 1, template: "array_agg(DISTINCT {0})" },
    Rewrite {
        name: "at_timezone",
        arguments: 2,
        template: "(arrow_cast({0}, 'Timestamp(Microsecond, Some(\"UTC\"))') AT TIME ZONE {zone})",
    },
    Rewrite { name: "with_timezone", arguments: 2, template: "(arrow_cast({0}, 'Timestamp(Microsecond, None)') AT TIME ZONE {zone})" },
    Rewrite { name: "approx_percentile", arguments: 2, template: "approx_percentile_cont({1}) WITHIN GROUP (ORDER BY {0})" },
    Rewrite { name: "listagg", arguments: 1, template: "string_agg(CAST({0} AS VARCHAR), '' ORDER BY {order})" },
    Rewrite { name: "listagg", arguments: 2, template: "string_agg(CAST({0} AS VARCHAR), {1} ORDER BY {order})" },
];

/// How each rewritten function is called, for the error when a call does not fit.
const USAGE: &[(&str, &str, &str)] = &[
    ("count_if", "one condition", "count_if(errorcode IS NOT NULL)"),
    ("if", "2 or 3 arguments", "if(condition, then_value[, else_value])"),
    ("is_nan", "one number", "is_nan(x)"),
    ("bitwise_and", "2 integers", "bitwise_and(x, y)"),
    ("bitwise_or", "2 integers", "bitwise_or(x, y)"),
    ("bitwise_xor", "2 integers", "bitwise_xor(x, y)"),
    ("levenshtein_distance", "2 strings", "levenshtein_distance('kitten', 'sitting')"),
    ("to_utf8", "one string", "to_utf8(eventname)"),
    ("from_utf8", "one binary value", "from_utf8(x)"),
    ("zip", "2 or 3 arrays", "zip(array[1, 2], array['a', 'b'])"),
    ("max_by", "2 arguments", "max_by(eventname, eventtime)"),
    ("min_by", "2 arguments", "min_by(eventname, eventtime)"),
    ("set_agg", "one argument", "set_agg(sourceipaddress)"),
    ("at_timezone", "a timestamp and a zone name in quotes", "at_timezone(eventtime, 'America/New_York')"),
    ("with_timezone", "a timestamp and a zone name in quotes", "with_timezone(timestamp '2024-01-05 10:00:00', 'Europe/Paris')"),
    ("approx_percentile", "a value and a percentile", "approx_percentile(x, 0.5)"),
    ("listagg", "a value, a separator and WITHIN GROUP (ORDER BY ...)", "listagg(eventname, ',') WITHIN GROUP (ORDER BY eventtime)"),
];

/// A time offset of `p_occurs_since` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    #[error("'{text}' is not a time offset; write it like 1h, 30m, 7d or 2w")]
    Unit { text: String },
    #[error(transparent)]
    Duration(#[from] crate::duration::DurationError),
}

/// The first pass, on the SQL text. `stores` name the ids a placeholder
/// error lists.
pub fn rewrite_text(sql: &str, stores: &[EventDataStore]) -> Result<String, DialectError> {
    let mentions_store = mentions_store(sql);
    let mut out = String::with_capacity(sql.len() + 16);
    let mut last_word = String::new();
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let quoted_end = |quote: char, text: &str| text[1..].find(quote).map_or(text.len(), |i| i + 2);
        let taken = match c {
            '\'' | '"' | '`' => {
                let mut end = quoted_end(c, rest);
                // '' inside a string is an escaped quote.
                while rest[end..].starts_with(c) {
                    end += quoted_end(c, &rest[end..]);
                }
                last_word = if c == '\'' { String::new() } else { "name".to_string() };
                end
            }
            '-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            '/' if rest.starts_with("/*") => rest.find("*/").map_or(rest.len(), |i| i + 2),
            '$' | '<' if last_word == "from" || last_word == "join" => {
                let end = if c == '<' {
                    rest.find('>').map_or(rest.len(), |i| i + 1)
                } else {
                    1 + rest[1..].find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '{' || c == '}')).unwrap_or(rest.len() - 1)
                };
                return Err(DialectError::Placeholder { placeholder: rest[..end].to_string(), known: describe(stores.iter()) });
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                if let Some((id, length)) = store_id_at(rest) {
                    out.push_str(&format!("\"{id}\""));
                    rest = &rest[length..];
                    last_word = "name".to_string();
                    continue;
                }
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                let word = rest[..end].to_ascii_lowercase();
                // Trino's `IPADDRESS '10.0.0.1'`: an address is its text in tarn.
                let after = rest[end..].trim_start();
                if word == "ipaddress" && after.starts_with('\'') {
                    if let Some(close) = after[1..].find('\'') {
                        let text = &after[1..=close];
                        if text.parse::<std::net::IpAddr>().is_err() {
                            return Err(DialectError::IpAddress(text.to_string()));
                        }
                    }
                    rest = after;
                    continue;
                }
                if let Some(macro_kind) = Macro::named(&word)
                    && let Some((expansion, length)) = expand_macro(macro_kind, &rest[end..], mentions_store)?
                {
                    out.push_str(&expansion);
                    rest = &rest[end + length..];
                    last_word = "name".to_string();
                    continue;
                }
                last_word = word;
                end
            }
            c if c.is_whitespace() => c.len_utf8(),
            c => {
                last_word = c.to_string();
                c.len_utf8()
            }
        };
        out.push_str(&rest[..taken]);
        rest = &rest[taken..];
    }
    Ok(out)
}

/// A store id or ARN at the start of `text` (and not part of a longer
/// word): its lower-case id and the length it takes.
fn store_id_at(text: &str) -> Option<(String, usize)> {
    let length = if text.starts_with("arn:") {
        text.find(|c: char| c.is_whitespace() || matches!(c, ',' | ')' | ';')).unwrap_or(text.len())
    } else {
        36
    };
    let candidate = text.get(..length)?;
    let after = text[length..].chars().next();
    if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    parse_id(candidate).map(|id| (id, length))
}

/// Whether the query names a store (bare, ARN or quoted): then the macros
/// filter on `eventtime`, as stores have no `p_event_time`.
fn mentions_store(sql: &str) -> bool {
    sql.char_indices().any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (sql[i..].get(..36).is_some_and(is_uuid) || sql[i..].starts_with("arn:"))
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Macro {
    Since,
    Between,
}

impl Macro {
    fn named(word: &str) -> Option<Macro> {
        match word {
            "p_occurs_since" => Some(Macro::Since),
            "p_occurs_between" => Some(Macro::Between),
            _ => None,
        }
    }
}

/// Expands `(args)` after a macro name: the SQL and the length of `(args)`.
/// None if no `(` follows (then it is just a name).
fn expand_macro(kind: Macro, text: &str, on_store: bool) -> Result<Option<(String, usize)>, DialectError> {
    let open = text.len() - text.trim_start().len();
    if !text[open..].starts_with('(') {
        return Ok(None);
    }
    let name = if kind == Macro::Since { "p_occurs_since" } else { "p_occurs_between" };
    let (args, length) = macro_args(&text[open..]).ok_or(DialectError::MacroNotClosed { name })?;
    let wanted = if kind == Macro::Since { 1 } else { 2 };
    if args.len() < wanted || args.len() > wanted + 1 {
        let usage =
            if kind == Macro::Since { "p_occurs_since(1h[, column])" } else { "p_occurs_between('2024-01-01', '2024-01-02'[, column])" };
        return Err(DialectError::MacroArguments { name, wanted, usage });
    }
    let column = match args.get(wanted) {
        Some(named) if named.contains('.') || named.ends_with("time") || named == "created" => named.clone(),
        Some(alias) => format!("{alias}.{}", if on_store { "eventtime" } else { "p_event_time" }),
        None => (if on_store { "eventtime" } else { "p_event_time" }).to_string(),
    };
    let expansion = match kind {
        Macro::Since => {
            let seconds = macro_offset(&args[0]).map_err(DialectError::Offset)?;
            format!("({column} >= now() - INTERVAL '{seconds} seconds')")
        }
        Macro::Between => {
            let (start, end) = (unquote(&args[0]), unquote(&args[1]));
            format!("({column} BETWEEN CAST('{start}' AS TIMESTAMP) AND CAST('{end}' AS TIMESTAMP))")
        }
    };
    Ok(Some((expansion, open + length)))
}

/// The top-level, comma-separated arguments of `(…)` and the length up to `)`.
fn macro_args(text: &str) -> Option<(Vec<String>, usize)> {
    let (mut depth, mut quoted, mut start) = (0, false, 1);
    let mut args = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ',' if !quoted && depth == 1 => {
                args.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    args.push(text[start..i].trim().to_string());
                    return Some((args, i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn unquote(text: &str) -> String {
    text.trim().trim_matches('\'').replace('\'', "''")
}

/// Panther's time offsets: `1h`, `'6 hours'`, `'2 d'`, or seconds (`3600`).
fn macro_offset(text: &str) -> Result<u64, OffsetError> {
    let compact: String = unquote(text).split_whitespace().collect::<Vec<_>>().join("").to_ascii_lowercase();
    if let Ok(seconds) = compact.parse::<u64>() {
        return Ok(seconds);
    }
    let number_end = compact.find(|c: char| !c.is_ascii_digit()).unwrap_or(compact.len());
    let unit = match &compact[number_end..] {
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => "d",
        "w" | "week" | "weeks" => "w",
        _ => return Err(OffsetError::Unit { text: unquote(text) }),
    };
    Ok(crate::duration::parse(&format!("{}{unit}", &compact[..number_end]))?.as_secs())
}

/// The second pass, on the parsed statement.
pub fn rewrite_statement(statement: &mut Statement, lenient: &dyn Fn(&str) -> bool) -> Result<(), DialectError> {
    let mut visitor = Rewriter { error: None, lenient };
    let _ = statement.visit(&mut visitor);
    if let Some(error) = visitor.error {
        return Err(error);
    }
    if let Statement::Query(query) = statement {
        name_columns(query);
    }
    Ok(())
}

struct Rewriter<'a> {
    error: Option<DialectError>,
    /// Whether a function has a lenient twin (`__try_<name>`), for `try`.
    lenient: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => lower(ident),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(lower),
            // Trino's `element_at(resources, 1).arn`: a field of a computed
            // struct, which DataFusion reads as `…['arn']`.
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    if let AccessExpr::Dot(Expr::Identifier(field)) = access {
                        let name = Value::SingleQuotedString(field.value.to_lowercase());
                        *access = AccessExpr::Subscript(Subscript::Index { index: Expr::value(name) });
                    }
                }
            }
            Expr::Cast { data_type, .. } if is_ip_type(data_type) => *data_type = DataType::Varchar(None),
            Expr::Function(function) if function.name.to_string().eq_ignore_ascii_case("try") => match try_body(function) {
                Some(mut body) => {
                    let _ = body.visit(&mut Lenient { lenient: self.lenient });
                    *expr = Expr::Nested(Box::new(body));
                }
                None => {
                    self.error = Some(DialectError::Try);
                    return ControlFlow::Break(());
                }
            },
            Expr::Function(function) => {
                match lambdas(function) {
                    HigherOrder::No => {}
                    HigherOrder::Rewritten => return ControlFlow::Continue(()),
                    HigherOrder::Negated => {
                        let call = Expr::Function(function.clone());
                        *expr = Expr::UnaryOp {
                            op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                            expr: Box::new(Expr::Nested(Box::new(call))),
                        };
                        return ControlFlow::Continue(());
                    }
                }
                match rewrite_function(function) {
                    Ok(Some(replacement)) => *expr = replacement,
                    Ok(None) => {}
                    Err(error) => {
                        self.error = Some(error);
                        return ControlFlow::Break(());
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_relation(&mut self, relation: &mut datafusion::sql::sqlparser::ast::ObjectName) -> ControlFlow<()> {
        for part in &mut relation.0 {
            if let ObjectNamePart::Identifier(ident) = part {
                lower(ident);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Trino's `IPADDRESS` type: its values are address text in tarn.
fn is_ip_type(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("ipaddress"))
}

/// Trino's functions that take a lambda, and DataFusion's names for them.
const HIGHER_ORDER: &[(&str, &str)] = &[
    ("filter", "array_filter"),
    ("transform", "array_transform"),
    ("any_match", "array_any_match"),
    ("all_match", "all_match"),
    ("none_match", "none_match"),
];

/// What [`lambdas`] did to a call.
enum HigherOrder {
    /// Not a call with a lambda.
    No,
    Rewritten,
    /// Rewritten, and the call is to be negated (`all_match`, `none_match`).
    Negated,
}

/// Reads `x -> body` and `(k, v) -> body` arguments of a function that
/// takes a lambda, which the generic parser reads as the JSON arrow
/// operator, as lambdas; renames the function to DataFusion's and writes
/// `all_match` and `none_match` with `array_any_match`.
fn lambdas(function: &mut Function) -> HigherOrder {
    let name = function.name.to_string().to_lowercase();
    let Some(&(_, ours)) = HIGHER_ORDER.iter().find(|(trino, _)| *trino == name) else { return HigherOrder::No };
    let FunctionArguments::List(list) = &mut function.args else { return HigherOrder::No };
    let mut converted = false;
    for argument in &mut list.args {
        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = argument
            && let Some(lambda) = as_lambda(e)
        {
            *e = Expr::Lambda(lambda);
            converted = true;
        }
    }
    if !converted {
        return HigherOrder::No;
    }
    let negate_body = |list: &mut datafusion::sql::sqlparser::ast::FunctionArgumentList| {
        for argument in &mut list.args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(lambda))) = argument {
                let body = std::mem::replace(lambda.body.as_mut(), Expr::value(Value::Null));
                *lambda.body =
                    Expr::UnaryOp { op: datafusion::sql::sqlparser::ast::UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(body))) };
            }
        }
    };
    match ours {
        // all_match(a, p) is NOT any_match(a, NOT p); none_match(a, p) is NOT any_match(a, p).
        "all_match" | "none_match" => {
            if ours == "all_match" {
                negate_body(list);
            }
            function.name = ObjectName::from(vec![Ident::new("array_any_match")]);
            HigherOrder::Negated
        }
        _ => {
            function.name = ObjectName::from(vec![Ident::new(ours)]);
            HigherOrder::Rewritten
        }
    }
}

/// `x -> body` as the parser leaves it (`x` JSON-arrow `body`, where an
/// `AND`/`OR` after the body binds looser than the arrow and is taken back
/// into it), as a lambda.
fn as_lambda(expr: &Expr) -> Option<LambdaFunction> {
    let Expr::BinaryOp { left, op, right } = expr else { return None };
    if *op == BinaryOperator::Arrow {
        let names: Vec<Ident> = match left.as_ref() {
            Expr::Identifier(name) => vec![name.clone()],
            Expr::Nested(inner) => match inner.as_ref() {
                Expr::Identifier(name) => vec![name.clone()],
                _ => return None,
            },
            Expr::Tuple(items) => {
                items.iter().map(|i| if let Expr::Identifier(n) = i { Some(n.clone()) } else { None }).collect::<Option<_>>()?
            }
            _ => return None,
        };
        // `r.type` of a parameter `r` is a field of it, not a column of a table `r`.
        let mut body = right.clone();
        let _ = body.visit(&mut ParameterFields { names: &names });
        let params: Vec<LambdaFunctionParameter> =
            names.into_iter().map(|name| LambdaFunctionParameter { name, data_type: None }).collect();
        let params =
            if params.len() == 1 { OneOrManyWithParens::One(params.into_iter().next()?) } else { OneOrManyWithParens::Many(params) };
        return Some(LambdaFunction { params, body, syntax: LambdaSyntax::Arrow });
    }
    if matches!(op, BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor) {
        let mut lambda = as_lambda(left)?;
        lambda.body = Box::new(Expr::BinaryOp { left: lambda.body, op: op.clone(), right: right.clone() });
        return Some(lambda);
    }
    None
}

/// Writes `p.field` of a lambda parameter `p` as `p['field']`.
struct ParameterFields<'a> {
    names: &'a [Ident],
}

impl VisitorMut for ParameterFields<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && parts.len() > 1
            && self.names.iter().any(|n| n.value.eq_ignore_ascii_case(&parts[0].value))
        {
            let access_chain = parts[1..]
                .iter()
                .map(|field| {
                    AccessExpr::Subscript(Subscript::Index { index: Expr::value(Value::SingleQuotedString(field.value.to_lowercase())) })
                })
                .collect();
            *expr = Expr::CompoundFieldAccess { root: Box::new(Expr::Identifier(parts[0].clone())), access_chain };
        }
        ControlFlow::Continue(())
    }
}

/// The one expression of `try(...)`.
fn try_body(function: &Function) -> Option<Expr> {
    let FunctionArguments::List(list) = &function.args else { return None };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] if function.over.is_none() && function.filter.is_none() => Some(e.clone()),
        _ => None,
    }
}

/// Trino's `try`: inside it a cast that fails, a division by zero or a
/// function that fails on a row gives NULL for that row. Casts become
/// `TRY_CAST`, a divisor of 0 becomes NULL, and each function with a
/// lenient twin calls it (see `functions::lenient`).
struct Lenient<'a> {
    lenient: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for Lenient<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Cast { kind, .. } if matches!(kind, CastKind::Cast | CastKind::DoubleColon) => *kind = CastKind::TryCast,
            Expr::BinaryOp { op: BinaryOperator::Divide | BinaryOperator::Modulo, right, .. } => {
                let divisor = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                **right = Expr::Function(Function {
                    name: ObjectName::from(vec![Ident::new("nullif")]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(datafusion::sql::sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(divisor)),
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::Number("0".into(), false)))),
                        ],
                        clauses: Vec::new(),
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: Vec::new(),
                });
            }
            Expr::Function(function) if function.over.is_none() => {
                let name = function.name.to_string().to_lowercase();
                if (self.lenient)(&name) {
                    function.name = ObjectName::from(vec![Ident::new(format!("{}{name}", super::functions::LENIENT_PREFIX))]);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The expression a Trino function call is in DataFusion (see [`REWRITES`]);
/// `None` for a function that is not rewritten.
fn rewrite_function(function: &Function) -> Result<Option<Expr>, DialectError> {
    let name = function.name.to_string().to_lowercase();
    let Some(&(name, wanted, usage)) = USAGE.iter().find(|(known, ..)| *known == name) else { return Ok(None) };
    let refuse = || DialectError::Arguments { name, wanted, usage };
    let FunctionArguments::List(list) = &function.args else { return Err(refuse()) };
    if function.over.is_some() || function.filter.is_some() || list.duplicate_treatment.is_some() {
        return Err(DialectError::Clause { name, usage });
    }
    let arguments: Vec<String> = list
        .args
        .iter()
        .map(|argument| match argument {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(format!("({e})")),
            _ => Err(refuse()),
        })
        .collect::<Result<_, _>>()?;
    let Some(rewrite) = REWRITES.iter().find(|r| r.name == name && r.arguments == arguments.len()) else { return Err(refuse()) };
    let order: Vec<String> = function.within_group.iter().map(|o| o.to_string()).collect();
    if rewrite.template.contains("{order}") == order.is_empty() || !list.clauses.is_empty() {
        return Err(refuse());
    }
    // One pass over the template, so an argument's own text is never substituted into.
    let mut text = String::new();
    let mut rest = rewrite.template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').unwrap_or(0);
        text.push_str(&rest[..open]);
        match &rest[open + 1..close] {
            "order" => text.push_str(&order.join(", ")),
            // AT TIME ZONE takes a quoted zone name, not an expression.
            "zone" => match list.args.get(1) {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(zone @ Expr::Value(_)))) => text.push_str(&zone.to_string()),
                _ => return Err(refuse()),
            },
            index => text.push_str(index.parse::<usize>().ok().and_then(|i| arguments.get(i)).map_or("NULL", String::as_str)),
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    let parsed = Parser::new(&GenericDialect).try_with_sql(&text).and_then(|mut p| p.parse_expr());
    parsed.map(Some).map_err(|source| DialectError::Rewrite { name: rewrite.name, source })
}

fn lower(ident: &mut Ident) {
    if ident.value.chars().any(|c| c.is_uppercase()) {
        ident.value = ident.value.to_lowercase();
    }
}

/// Names the outermost result columns as Lake does.
fn name_columns(query: &mut Query) {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(inner) => body = inner.body.as_mut(),
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else { return };
    let leaf = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(|i| i.value.clone()),
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        _ => None,
    };
    let names: Vec<Option<String>> = select.projection.iter().map(leaf).collect();
    for (position, item) in select.projection.iter_mut().enumerate() {
        match item {
            SelectItem::ExprWithAlias { alias, .. } => lower(alias),
            SelectItem::UnnamedExpr(Expr::Identifier(_)) => {}
            SelectItem::UnnamedExpr(expr @ Expr::CompoundIdentifier(_)) => {
                let Some(name) = names[position].clone() else { continue };
                // Two struct leaves with one name keep DataFusion's names.
                if names.iter().filter(|n| n.as_deref() == Some(name.as_str())).count() == 1 {
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', name) };
                }
            }
            SelectItem::UnnamedExpr(expr) => {
                *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', format!("_col{position}")) };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5e2676f8-9fce-46ef-8142-3e36a94e6691";

    #[test]
    fn bare_ids_and_arns_become_quoted_names_but_not_inside_strings() {
        let sql = format!(
            "SELECT '{ID}' FROM {} JOIN arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/{ID} b -- {ID}",
            ID.to_uppercase()
        );
        let expected = format!("SELECT '{ID}' FROM \"{ID}\" JOIN \"{ID}\" b -- {ID}");
        assert_eq!(rewrite_text(&sql, &[]).unwrap(), expected);
        let not_an_id = format!("SELECT x{ID} FROM t");
        assert_eq!(rewrite_text(&not_an_id, &[]).unwrap(), not_an_id);
    }

    #[test]
    fn a_placeholder_after_from_is_refused() {
        for placeholder in ["$EDS_ID", "<EDS ID>", "<EVENT-DATA-STORE-ID>"] {
            let error = rewrite_text(&format!("select * from {placeholder} where x < 3"), &[]).unwrap_err().to_string();
            assert!(error.starts_with(&format!("`{placeholder}` is a placeholder: put an event data store id")), "{error}");
        }
        assert!(rewrite_text("select a from t where a < 3 and b <> '$x'", &[]).is_ok());
    }

    #[test]
    fn macros_expand_to_time_filters() {
        let sql = rewrite_text("select 1 from t where p_occurs_since(1h) and p_occurs_since('2 days', t)", &[]).unwrap();
        assert_eq!(
            sql,
            "select 1 from t where (p_event_time >= now() - INTERVAL '3600 seconds') and (t.p_event_time >= now() - INTERVAL '172800 seconds')"
        );
        let sql = rewrite_text(&format!("select 1 from {ID} where p_occurs_between('2024-01-01', '2024-01-02')"), &[]).unwrap();
        assert!(sql.ends_with("(eventtime BETWEEN CAST('2024-01-01' AS TIMESTAMP) AND CAST('2024-01-02' AS TIMESTAMP))"), "{sql}");
        assert!(rewrite_text("select 1 from t where p_occurs_since(soon)", &[]).unwrap_err().to_string().contains("not a time offset"));
    }
}
