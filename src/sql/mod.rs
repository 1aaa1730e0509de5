//! SQL over the lake with DataFusion: every lake table (and `quarantine`, `alarms`, `alerts`)
//! registered from the commit log, each event data store as a view named by
//! its id, CloudTrail Lake's dialect and Trino functions on top; read-only,
//! with errors as one readable line.

mod checked;
mod dialect;
mod functions;
mod print;
mod prune;
pub mod shell;
mod stores;
mod table;

pub use dialect::{DialectError, OffsetError, rewrite_text};
pub use functions::parse_cidr;
pub use print::{Format, lake_value, write as write_results};
pub use prune::PARTITION_COLUMNS;
pub use stores::StoreError;
pub use table::{FilesAt, LakeTable};

use crate::catalog::eds::EventDataStore;
use crate::lake::{
    ALARMS_TABLE, ALERTS_TABLE, Lake, LakeError, QUARANTINE_TABLE, Snapshot, alarms_schema, alerts_schema, quarantine_schema,
};
use crate::schema::Registry;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::ScalarValue;
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::logical_expr::LogicalPlan;
use std::sync::Arc;

/// A query that failed, as one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// DataFusion refused or failed the query: its innermost cause as one
    /// line, with the tables or the function to use where that helps.
    #[error("{0}")]
    Query(String),
    /// CloudTrail Lake's dialect refused the query.
    #[error(transparent)]
    Dialect(#[from] DialectError),
    /// An event data store's view cannot be made.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "tarn's SQL is read-only: {statement} statements are refused; the lake changes only through `tarn ingest` (use SELECT, WITH, EXPLAIN or SHOW)"
    )]
    ReadOnly { statement: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("the result holds more than {} (--max-result-size); add a LIMIT or aggregate, or raise the limit", crate::size::show(*limit))]
    ResultTooLarge { limit: usize },
    #[error("the query ran longer than {} (--timeout) and was stopped; narrow it (a time range, a LIMIT) or raise the timeout", crate::duration::show(*limit))]
    TimedOut { limit: std::time::Duration },
}

/// What one query may take, each with the flag that raises it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Memory DataFusion's operators may hold; sorts, aggregates and joins
    /// that support it spill to the temp directory past it, others fail with
    /// a line naming the limit (`--memory-limit`).
    pub memory: usize,
    /// Bytes a result may hold (`--max-result-size`): results are collected
    /// before they are printed.
    pub result: usize,
    /// Wall-clock time a query may run (`--timeout`); none by default.
    pub timeout: Option<std::time::Duration>,
}

impl Default for Limits {
    /// Half the machine's memory for operators; a quarter for a result, from
    /// 256 MB to 1 GB (more is not a result anyone reads); no timeout.
    fn default() -> Limits {
        let total = machine_memory().unwrap_or(4 << 30);
        Limits { memory: (total / 2).max(256 << 20), result: (total / 4).clamp(256 << 20, 1 << 30), timeout: None }
    }
}

/// Physical memory, from /proc/meminfo, read once per process (a rule run
/// opens a session per commit range, a rule test one per test).
fn machine_memory() -> Option<usize> {
    static TOTAL: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        kb.checked_mul(1024)
    })
}

impl From<DataFusionError> for SqlError {
    fn from(error: DataFusionError) -> SqlError {
        SqlError::Query(message(&error))
    }
}

/// How deep a query may nest (parentheses, CASE, function calls, subqueries)
/// before the parser refuses it; DataFusion's default, 50, refused a
/// 60-deep CASE. Planning grows its stack as it recurses
/// (`recursive_protection`), so this bounds time and memory, not the stack.
const MAX_QUERY_NESTING: usize = 1_000;

/// How deep parentheses may nest. sqlparser parses some prefixes (`NOT (`)
/// two ways when the inner part fails, so a failure deep inside (its
/// recursion limit) costs 2^depth: 900 levels of `NOT (` never ended, while
/// 300 take 0.07 s.
const MAX_PARENTHESES: usize = 256;

/// Refuses a query whose parentheses nest deeper than [`MAX_PARENTHESES`],
/// or that negates with more than that many `NOT`s in a row, before the
/// parser sees it (past its recursion limit, sqlparser reported a deep `NOT`
/// chain as a syntax error at a column in the middle of it).
fn check_nesting(sql: &str) -> Result<(), SqlError> {
    let (mut depth, mut quote, mut nots, mut word) = (0usize, None, 0usize, String::new());
    let deep = |what: &str| {
        SqlError::Query(format!(
            "the query nests {what} more than {MAX_PARENTHESES} deep; write it flatter, for example a long OR of equalities as IN (...)"
        ))
    };
    for c in sql.chars().chain([' ']) {
        if quote.is_none() && (c.is_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            nots = if word.eq_ignore_ascii_case("not") { nots + 1 } else { 0 };
            if nots > MAX_PARENTHESES {
                return Err(deep("NOT"));
            }
            word.clear();
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => {
                depth += 1;
                if depth > MAX_PARENTHESES {
                    return Err(deep("parentheses"));
                }
            }
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Runs `work` for at most `limit`; `None` if it ran longer. The clock is a
/// thread of its own rather than tokio's timer, which only fires when a
/// runtime worker parks: DataFusion can keep every worker busy without
/// parking for as long as a query runs.
pub(crate) async fn within<T>(limit: std::time::Duration, work: impl std::future::Future<Output = T>) -> Option<T> {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let (ring, rung) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
            let _ = ring.send(());
        }
    });
    let outcome = tokio::select! {
        outcome = work => Some(outcome),
        _ = rung => None,
    };
    drop(done);
    outcome
}

/// The innermost cause of a DataFusion error, as one line without Rust
/// debug formatting (`SQL error: ParserError("...")` becomes `syntax error: ...`).
fn message(error: &DataFusionError) -> String {
    use datafusion::sql::sqlparser::parser::ParserError;
    match error.find_root() {
        DataFusionError::SQL(parse, _) => match parse.as_ref() {
            ParserError::ParserError(text) | ParserError::TokenizerError(text) => one_line(&format!("syntax error: {text}")),
            ParserError::RecursionLimitExceeded => format!(
                "the query nests more than {MAX_QUERY_NESTING} levels deep (parentheses, CASE, function calls, subqueries); write it flatter, for example a long OR of equalities as IN (...)"
            ),
        },
        DataFusionError::ResourcesExhausted(detail) => {
            format!("the query needs more memory than --memory-limit allows ({}); raise the limit or narrow the query", one_line(detail))
        }
        DataFusionError::External(inner) if inner.is::<LakeError>() => inner.to_string(),
        DataFusionError::Execution(text) => one_line(text),
        root => one_line(&root.strip_backtrace()),
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A query session over the lake. Each query reads the lake as of its last
/// whole commit: a query never sees half a commit, and a long-lived shell
/// sees what other processes committed since the previous query.
pub struct Sql {
    ctx: SessionContext,
    rows: Rows,
    /// Table name, file schema (without partition columns), columns whose
    /// filters prune files by event time.
    file_schemas: Vec<(String, SchemaRef, Vec<String>)>,
    /// Table name, full schema (for `\d` and completion); then each
    /// event data store's id and view schema.
    tables: Vec<(String, SchemaRef)>,
    stores: Vec<EventDataStore>,
    /// Each store's id and the SQL of its view (planned again when the
    /// tables under it change).
    views: Vec<(String, String)>,
    /// The commit the registered tables show.
    commit: std::sync::atomic::AtomicU64,
    limits: Limits,
}

/// What a session's tables hold.
enum Rows {
    /// The lake as of its latest commit, at each query.
    Latest(Lake),
    /// Part of one snapshot of the lake, for a rule run.
    Part { lake: Lake, snapshot: Box<Snapshot>, part: LakePart },
    /// Rows given in memory, by table (a rule's tests).
    Memory(Vec<(String, RecordBatch)>),
}

/// The rows of a snapshot a rule run reads: those of files added after a
/// commit, whose `p_event_time` is `from` (microseconds) or later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LakePart {
    pub after_commit: u64,
    pub from: i64,
    /// Rows before this time (`i64::MAX`: no end).
    pub to: i64,
}

impl Sql {
    /// Registers every known log type's table, `quarantine`, `alarms`,
    /// `alerts`, and each event data store as a view named by its id.
    pub async fn open(lake: &Lake, registry: &Registry, stores: &[EventDataStore]) -> Result<Sql, SqlError> {
        Sql::open_rows(Rows::Latest(lake.clone()), registry, stores, Limits::default()).await
    }

    /// [`Sql::open`] with `limits` on each query.
    pub async fn open_limited(lake: &Lake, registry: &Registry, stores: &[EventDataStore], limits: Limits) -> Result<Sql, SqlError> {
        Sql::open_rows(Rows::Latest(lake.clone()), registry, stores, limits).await
    }

    /// Like [`Sql::open`], over part of one snapshot: the tables hold only
    /// the rows `part` selects, whatever is committed meanwhile.
    pub async fn open_part(
        lake: &Lake,
        snapshot: Snapshot,
        part: LakePart,
        registry: &Registry,
        stores: &[EventDataStore],
    ) -> Result<Sql, SqlError> {
        Sql::open_rows(Rows::Part { lake: lake.clone(), snapshot: Box::new(snapshot), part }, registry, stores, Limits::default()).await
    }

    /// Like [`Sql::open`], over rows held in memory instead of the lake
    /// (each batch in its table's file schema); tables not given are empty.
    pub async fn open_memory(rows: Vec<(String, RecordBatch)>, registry: &Registry, stores: &[EventDataStore]) -> Result<Sql, SqlError> {
        Sql::open_rows(Rows::Memory(rows), registry, stores, Limits::default()).await
    }

    async fn open_rows(rows: Rows, registry: &Registry, stores: &[EventDataStore], limits: Limits) -> Result<Sql, SqlError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("tarn", "lake")
            .set_str("datafusion.execution.time_zone", "+00:00")
            .set_usize("datafusion.sql_parser.recursion_limit", MAX_QUERY_NESTING)
            // tarn's files hold one row group of a partition-hour; pruning is
            // by file (the log's time ranges) and row group statistics. The
            // page index would prune nothing more, and loading it was 18% of
            // a filtered query's time (perf, issue 15).
            .set_bool("datafusion.execution.parquet.enable_page_index", false);
        let event_time = || "p_event_time".to_string();
        let file_schemas: Vec<(String, SchemaRef, Vec<String>)> = registry
            .iter()
            .map(|t| {
                (
                    t.table.clone(),
                    t.arrow_schema.clone(),
                    [Some(event_time()), t.event_time_column().map(str::to_string)].into_iter().flatten().collect(),
                )
            })
            .chain([
                (QUARANTINE_TABLE.to_string(), quarantine_schema(), vec![event_time()]),
                (ALARMS_TABLE.to_string(), alarms_schema(), vec![event_time()]),
                (ALERTS_TABLE.to_string(), alerts_schema(), vec![event_time()]),
            ])
            .collect();
        let tables = file_schemas
            .iter()
            .map(|(name, schema, _)| {
                (name.clone(), LakeTable::new(schema.clone(), FilesAt::nowhere(), Vec::new(), Vec::new()).full_schema())
            })
            .collect();
        let table_schemas: Vec<(String, SchemaRef)> = file_schemas.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect();
        let views = stores
            .iter()
            .map(|store| Ok((store.id.clone(), stores::view_sql(store, &table_schemas)?)))
            .collect::<Result<_, StoreError>>()?;
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new().with_memory_limit(limits.memory, 1.0).build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        if let Rows::Latest(lake) | Rows::Part { lake, .. } = &rows
            && let Some((url, objects)) = FilesAt::of(lake.store())?.object_store()
        {
            ctx.register_object_store(url.as_ref(), objects);
        }
        functions::register(&ctx);
        checked::register(&ctx, limits.result);
        let mut sql = Sql {
            ctx,
            rows,
            file_schemas,
            tables,
            stores: stores.to_vec(),
            views,
            commit: std::sync::atomic::AtomicU64::new(u64::MAX),
            limits,
        };
        sql.refresh().await?;
        for store in stores {
            let view = sql.ctx.table_provider(TableReference::bare(store.id.as_str())).await?;
            sql.tables.push((store.id.clone(), view.schema()));
        }
        Ok(sql)
    }

    /// Registers the tables (and the store views over them) again if the
    /// lake has new commits.
    async fn refresh(&self) -> Result<(), SqlError> {
        use std::sync::atomic::Ordering;
        let registered = self.commit.load(Ordering::SeqCst);
        let latest;
        let (snapshot, files_at, part) = match &self.rows {
            Rows::Latest(lake) => {
                latest = lake.snapshot()?;
                (Some(&latest), FilesAt::of(lake.store())?, None)
            }
            Rows::Part { lake, snapshot, part } => (Some(snapshot.as_ref()), FilesAt::of(lake.store())?, Some(*part)),
            Rows::Memory(_) => (None, FilesAt::nowhere(), None),
        };
        let commit = snapshot.map_or(0, |s| s.last_commit);
        if registered == commit {
            return Ok(());
        }
        for (name, schema, time_columns) in &self.file_schemas {
            let provider: Arc<dyn TableProvider> = match snapshot {
                Some(snapshot) => {
                    let after = part.map_or(0, |p| p.after_commit);
                    let files = snapshot.table_files(name).filter(|f| f.commit > after).cloned().collect();
                    Arc::new(LakeTable::new(schema.clone(), files_at.clone(), files, time_columns.clone()))
                }
                None => Arc::new(table::memory_table(schema.clone(), self.memory_rows(name))?),
            };
            let provider = match part {
                Some(part) => time_window(name, provider, part.from, part.to)?,
                None => provider,
            };
            self.ctx.deregister_table(name.as_str())?;
            self.ctx.register_table(name.as_str(), provider)?;
        }
        for (id, sql) in &self.views {
            let plan = self.ctx.state().create_logical_plan(sql).await?;
            let name = TableReference::bare(id.as_str());
            self.ctx.deregister_table(name.clone())?;
            self.ctx.register_table(name, Arc::new(ViewTable::new(plan, Some(sql.clone()))))?;
        }
        self.commit.store(commit, Ordering::SeqCst);
        Ok(())
    }

    fn memory_rows(&self, table: &str) -> Vec<RecordBatch> {
        match &self.rows {
            Rows::Memory(rows) => rows.iter().filter(|(name, _)| name == table).map(|(_, batch)| batch.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Tables and their schemas (for `\d` and completion).
    pub fn tables(&self) -> &[(String, SchemaRef)] {
        &self.tables
    }

    /// Plans `sql`, refusing anything that is not a read.
    pub async fn plan(&self, sql: &str) -> Result<LogicalPlan, SqlError> {
        self.refresh().await?;
        check_nesting(sql)?;
        let text = dialect::rewrite_text(sql, &self.stores)?;
        let state = self.ctx.state();
        let parser_dialect = state.config().options().sql_parser.dialect;
        let mut statement = state.sql_to_statement(&text, &parser_dialect).map_err(|e| self.explain_error(e))?;
        let functions = state.scalar_functions();
        let lenient = |name: &str| functions.contains_key(&format!("{}{name}", functions::LENIENT_PREFIX));
        rewrite_statement(&mut statement, &lenient)?;
        let plan = state.statement_to_plan(statement).await.map_err(|e| self.explain_error(e))?;
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        if read_only.verify_plan(&plan).is_err() {
            return Err(SqlError::ReadOnly { statement: statement_kind(&plan) });
        }
        Ok(plan)
    }

    /// Runs one query and collects its results, within the session's
    /// [`Limits`]: past the timeout or the result size it stops and says so.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let run = async {
            let plan = self.plan(sql).await?;
            let frame = self.ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let mut stream = frame.execute_stream().await?;
            let (mut batches, mut bytes) = (Vec::new(), 0usize);
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                let batch = batch?;
                bytes = bytes.saturating_add(batch.get_array_memory_size());
                if bytes > self.limits.result {
                    return Err(SqlError::ResultTooLarge { limit: self.limits.result });
                }
                batches.push(batch);
            }
            Ok((schema, batches))
        };
        match self.limits.timeout {
            Some(limit) => within(limit, run).await.ok_or(SqlError::TimedOut { limit })?,
            None => run.await,
        }
    }

    fn explain_error(&self, error: DataFusionError) -> SqlError {
        let mut text = message(&error);
        if text.contains("not found") && text.contains("table") {
            let names: Vec<&str> = self.file_schemas.iter().map(|(n, _, _)| n.as_str()).collect();
            text.push_str(&format!(
                " (tables: {}; event data stores: {})",
                names.join(", "),
                crate::catalog::eds::describe(self.stores.iter())
            ));
        }
        SqlError::Query(unsupported_function(&text).unwrap_or(text))
    }
}

/// `provider` seen through a filter `p_event_time >= from`.
fn time_window(name: &str, provider: Arc<dyn TableProvider>, from: i64, to: i64) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
    let at = |micros: i64| lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())));
    let mut window = col("p_event_time").gt_eq(at(from));
    if to < i64::MAX {
        window = window.and(col("p_event_time").lt(at(to)));
    }
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(provider), None)?.filter(window)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// DataFusion's `Invalid function 'x'. Did you mean 'y'?`, said as tarn says it.
fn unsupported_function(text: &str) -> Option<String> {
    let rest = text.split("Invalid function '").nth(1)?;
    let (name, rest) = rest.split_once('\'')?;
    let nearest = rest.split("Did you mean '").nth(1).and_then(|r| r.split_once('\'')).map(|(n, _)| n);
    // A lenient twin (`try`'s) is its function under another name.
    let nearest = nearest.map(|n| n.strip_prefix(functions::LENIENT_PREFIX).unwrap_or(n));
    Some(match nearest {
        Some(nearest) => {
            format!("function {name} is not supported; the nearest supported function is {nearest} (docs/sql.md lists them all)")
        }
        None => format!("function {name} is not supported (docs/sql.md lists the supported functions)"),
    })
}

/// The dialect's syntax-tree pass, into `EXPLAIN` too.
fn rewrite_statement(statement: &mut datafusion::sql::parser::Statement, lenient: &dyn Fn(&str) -> bool) -> Result<(), DialectError> {
    use datafusion::sql::parser::Statement;
    match statement {
        Statement::Statement(inner) => dialect::rewrite_statement(inner, lenient),
        Statement::Explain(explain) => rewrite_statement(&mut explain.statement, lenient),
        _ => Ok(()),
    }
}

fn statement_kind(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Dml(dml) => dml.op.to_string().to_uppercase(),
        LogicalPlan::Ddl(ddl) => ddl.name().trim_start_matches("Ddl").to_string(),
        LogicalPlan::Copy(_) => "COPY".to_string(),
        LogicalPlan::Statement(statement) => statement.name().to_string(),
        LogicalPlan::Explain(explain) => statement_kind(&explain.plan),
        LogicalPlan::Analyze(analyze) => statement_kind(&analyze.input),
        other => other.display().to_string(),
    }
}
