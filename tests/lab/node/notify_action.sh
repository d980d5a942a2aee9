#!/bin/bash
#/etc/keepalived/notify_action.sh
# shellcheck disable=SC2006,SC2086 # kept as the seed documents wrote it
# The seed documents' notify script, unchanged in what it writes: the bare state
# word (no newline) to /var/keepalived/state, "[time]  notify_xxx" to the log.
log_file=/var/log/keepalived.log
log_write()
{
        echo "[`date '+%Y-%m-%d %T'`] $1" >> $log_file
}

mkdir -p /var/keepalived/
if [ $1 == 'MASTER' ]; then
        echo -n "$1" > /var/keepalived/state
        log_write " notify_master" 
        echo -n "0" > /var/keepalived/vip_check_failed_count       
        #@VIP_MIGRATE@
fi

if [ $1 == 'BACKUP' ]; then
        echo -n "$1" > /var/keepalived/state
        log_write " notify_backup" 
fi

if [ $1 == 'FAULT' ]; then
        echo -n "$1" > /var/keepalived/state
        log_write " notify_fault" 
fi

if [ $1 == 'STOP' ]; then
        echo -n "$1" > /var/keepalived/state
        log_write " notify_stop" 
fi
