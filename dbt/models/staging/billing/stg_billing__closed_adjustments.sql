with source as (

    select * from {{ source('billing', 'closed_adjustments') }}

),

final as (

    select * from source

)

select * from final
