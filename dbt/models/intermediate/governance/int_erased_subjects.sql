{#-
  Spec §4.4. One row per erased subject (subject_type, subject_id): when its PII was first
  erased. A subject erased again later (new PII arrived after the first erasure) keeps its first
  erased_at; erasure_count tells how often.
-#}

with erasures as (

    select * from {{ ref('stg_governance__erasures') }}

),

final as (

    select
        subject_type,
        subject_id,
        min(erased_at) as erased_at,
        max(erased_at) as last_erased_at,
        count(*) as erasure_count
    from erasures
    group by subject_type, subject_id

)

select * from final
