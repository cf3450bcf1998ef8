-- The benchmark's floor: plain DuckDB reading the same landing files and computing the same
-- usage_analytics figures (spec §3.1-3.5), with no validation, quarantine, PII split, ledger,
-- incremental bookkeeping or checks. `{landing}` is replaced by the landing directory and
-- `{json_files}` by the list of readable JSON-lines files.
create or replace temp table events as
with jsonl as (
    select event_id, event_type, occurred_at::timestamptz as occurred_at, attempt_id, session_id, user_id,
           client_id, stt_provider, duration_seconds::decimal(18,3) as duration_seconds
    from read_json({json_files},
                   format = 'newline_delimited', ignore_errors = true, union_by_name = true,
                   columns = {event_id: 'VARCHAR', event_type: 'VARCHAR', occurred_at: 'VARCHAR',
                              attempt_id: 'VARCHAR', session_id: 'VARCHAR', user_id: 'VARCHAR',
                              client_id: 'VARCHAR', stt_provider: 'VARCHAR', duration_seconds: 'DOUBLE'})
),
pq as (
    select event_id, event_type, occurred_at::varchar::timestamptz as occurred_at, attempt_id, session_id,
           user_id, client_id, stt_provider, duration_seconds::decimal(18,3) as duration_seconds
    from read_parquet('{landing}/transcription_events/*.parquet', union_by_name = true)
)
select * from jsonl where event_id is not null
union all
select * from pq;

create or replace temp table floor_usage_analytics as
with dedup as (
    select * from events qualify row_number() over (partition by event_id order by occurred_at) = 1
),
attempts as (
    select attempt_id, any_value(session_id) as session_id, any_value(user_id) as user_id,
           any_value(client_id) as client_id, any_value(stt_provider) as stt_provider,
           coalesce(min(occurred_at) filter (where event_type = 'transcription_started'),
                    min(occurred_at) filter (where event_type <> 'transcription_started')) as started_at,
           arg_min(event_type, occurred_at) filter (where event_type <> 'transcription_started') as outcome,
           min(occurred_at) filter (where event_type <> 'transcription_started') as outcome_at,
           arg_min(duration_seconds, occurred_at) filter (where event_type <> 'transcription_started') as duration_seconds
    from dedup group by attempt_id
),
classified as (
    select *, lag(outcome) over (partition by session_id order by started_at, attempt_id) as previous_outcome
    from attempts where outcome is not null
),
logs as (
    select *, case when previous_outcome is null then 'original'
                   when previous_outcome = 'transcription_failed' then 'retry_failed'
                   else 'retry_success' end as transcription_type
    from classified
),
priced as (
    select logs.*, date_trunc('month', timezone('UTC', outcome_at))::date as usage_month,
           case when transcription_type = 'retry_failed' then 0::decimal(18,6)
                else round(duration_seconds * (case stt_provider when 'google' then 0.006 else 0.00065 end)::decimal(12,6) / 60, 6) end as cost_usd
    from logs
)
select user_id, usage_month,
       count(*) filter (where outcome = 'transcription_completed') as total_transcriptions,
       count(*) filter (where outcome = 'transcription_failed') as failed_attempts,
       sum(duration_seconds) filter (where outcome = 'transcription_completed') as total_seconds,
       sum(duration_seconds) filter (where outcome = 'transcription_completed' and transcription_type <> 'retry_failed') as billable_seconds,
       sum(cost_usd) filter (where outcome = 'transcription_completed') as total_cost_usd,
       count(distinct session_id) as unique_sessions, count(distinct client_id) as unique_clients
from priced group by all;

select count(*), sum(total_transcriptions) from floor_usage_analytics;
