with source as (

    select * from {{ source('billing', 'closed_log_charges') }}

),

final as (

    select * from source

)

select * from final
