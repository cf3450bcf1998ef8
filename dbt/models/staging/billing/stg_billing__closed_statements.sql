with source as (

    select * from {{ source('billing', 'closed_statements') }}

),

final as (

    select * from source

)

select * from final
