"""activitypub: keys, followers, following, replay guard, activities, deliveries, inboxes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:39:41.450792

Tables of the ActivityPub actor (aggregator/activitypub/): our key pairs, followers, the
actors we follow, the inbox's replay guard, the activities we published, one delivery row
per (activity, inbox), and each remote inbox's health.
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ap_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_actor', sa.String(length=1000), nullable=False),
    sa.Column('activity_id', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('public', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ap_activities')),
    sa.UniqueConstraint('activity_id', name=op.f('uq_ap_activities_activity_id'))
    )
    with op.batch_alter_table('ap_activities', schema=None) as batch_op:
        batch_op.create_index('ix_ap_activities_entry', ['entry_id'], unique=False)
        batch_op.create_index('ix_ap_activities_outbox', ['local_actor', 'public', 'id'], unique=False)

    op.create_table('ap_followers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_actor', sa.String(length=1000), nullable=False),
    sa.Column('actor_id', sa.String(length=1000), nullable=False),
    sa.Column('inbox', sa.Text(), nullable=False),
    sa.Column('shared_inbox', sa.Text(), nullable=True),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('follow_id', sa.Text(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ap_followers')),
    sa.UniqueConstraint('local_actor', 'actor_id', name=op.f('uq_ap_followers_local_actor_actor_id'))
    )
    with op.batch_alter_table('ap_followers', schema=None) as batch_op:
        batch_op.create_index('ix_ap_followers_domain', ['domain'], unique=False)

    op.create_table('ap_following',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_actor', sa.String(length=1000), nullable=False),
    sa.Column('remote_actor', sa.String(length=1000), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('follow_id', sa.Text(), nullable=False),
    sa.Column('inbox', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ap_following')),
    sa.UniqueConstraint('local_actor', 'remote_actor', name=op.f('uq_ap_following_local_actor_remote_actor'))
    )
    op.create_table('ap_inboxes',
    sa.Column('inbox', sa.String(length=1000), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dead_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('inbox', name=op.f('pk_ap_inboxes'))
    )
    with op.batch_alter_table('ap_inboxes', schema=None) as batch_op:
        batch_op.create_index('ix_ap_inboxes_domain', ['domain'], unique=False)

    op.create_table('ap_keys',
    sa.Column('actor', sa.String(length=1000), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('public_pem', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('actor', name=op.f('pk_ap_keys'))
    )
    op.create_table('ap_seen',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('expires', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_ap_seen'))
    )
    with op.batch_alter_table('ap_seen', schema=None) as batch_op:
        batch_op.create_index('ix_ap_seen_expires', ['expires'], unique=False)

    op.create_table('ap_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity', sa.Integer(), nullable=False),
    sa.Column('inbox', sa.String(length=1000), nullable=False),
    sa.Column('state', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity'], ['ap_activities.id'], name=op.f('fk_ap_deliveries_activity_ap_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ap_deliveries')),
    sa.UniqueConstraint('activity', 'inbox', name=op.f('uq_ap_deliveries_activity_inbox'))
    )
    with op.batch_alter_table('ap_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_ap_deliveries_due', ['state', 'next_attempt'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ap_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_ap_deliveries_due')

    op.drop_table('ap_deliveries')
    with op.batch_alter_table('ap_seen', schema=None) as batch_op:
        batch_op.drop_index('ix_ap_seen_expires')

    op.drop_table('ap_seen')
    op.drop_table('ap_keys')
    with op.batch_alter_table('ap_inboxes', schema=None) as batch_op:
        batch_op.drop_index('ix_ap_inboxes_domain')

    op.drop_table('ap_inboxes')
    op.drop_table('ap_following')
    with op.batch_alter_table('ap_followers', schema=None) as batch_op:
        batch_op.drop_index('ix_ap_followers_domain')

    op.drop_table('ap_followers')
    with op.batch_alter_table('ap_activities', schema=None) as batch_op:
        batch_op.drop_index('ix_ap_activities_outbox')
        batch_op.drop_index('ix_ap_activities_entry')

    op.drop_table('ap_activities')
