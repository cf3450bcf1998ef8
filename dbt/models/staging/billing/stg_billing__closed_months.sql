with source as (

    select * from {{ source('billing', 'closed_months') }}

),

final as (

    select * from source

)

select * from final
