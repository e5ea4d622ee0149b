//! The schema changes the migrations repeat, one statement each (SQLite takes one
//! change per ALTER).

use sea_orm_migration::prelude::*;

pub async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

pub async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

pub async fn drop_index(manager: &SchemaManager<'_>, name: &str, table: impl IntoIden + 'static) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(table).to_owned())
        .await
}

pub async fn drop_table(manager: &SchemaManager<'_>, table: impl IntoIden + 'static) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table(table).to_owned()).await
}
